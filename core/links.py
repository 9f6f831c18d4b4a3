"""What a link may say: the app's configuration as one dataclass, its URL form, and hostile-value-proof parsing.

Links, the sidebar and lecture files (``core.lectures``) read settings by these rules alone, so a lecture
can ask for nothing a link cannot. Pure Python (no Streamlit): the URL round trip is tested without a
browser. A notice quotes the rejected value as it came; the page shows it as plain text (``app.text.plain``).
"""

import math
from dataclasses import asdict, dataclass, fields, replace

from core.data import DATASETS, TOY_DATASETS
from core.nn.activations import ACTIVATIONS
from core.nn.optim import OPTIMIZERS
from core.training.config import BACKENDS, DTYPES, TrainConfig

# What the UI offers: tight enough that every click answers within a second for a class on one server.
# Core enforces its own, wider limits (core.training.config) as a second line; the README says why they differ.
UI_LIMITS = {
    "depth": (0, 8),  # hidden layers
    "width": (1, 512),  # units per hidden layer
    "n_samples": (50, 5_000),  # toy sets
    "noise": (0.0, 1.0),
    "lr": (1e-5, 10.0),
    "batch_size": (1, 4_096),
    "epochs": (1, 500),
    "seed": (0, 2**31 - 1),
}


@dataclass(frozen=True)
class AppConfig:
    """Everything a page needs to rebuild the same network on the same data.

    Defaults open the Playground on two moons that a small tanh net separates in seconds.
    """

    dataset: str = "moons"  # one of core.data.DATASETS
    n_samples: int = 400  # toy sets: points in all splits together
    noise: float = 0.2  # toy sets: noise level
    depth: int = 2  # hidden layers
    width: int = 8  # units per hidden layer
    activation: str = "tanh"
    batch_norm: bool = False  # batch norm between each hidden Linear and its activation
    optimizer: str = "sgd"
    lr: float = 0.3
    batch_size: int = 16
    epochs: int = 100
    seed: int = 42
    backend: str = "numpy"
    dtype: str = "float64"  # float64 so hand gradients match autograd to ~1e-16

    @property
    def hidden_dims(self):
        return (self.width,) * self.depth

    @property
    def is_toy(self):
        return self.dataset in TOY_DATASETS

    def train_config(self):
        """The core ``TrainConfig`` this configuration trains with."""
        return TrainConfig(
            hidden_dims=self.hidden_dims,
            activation=self.activation,
            batch_norm=self.batch_norm,
            optimizer=self.optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            epochs=self.epochs,
            seed=self.seed,
            backend=self.backend,
            dtype=self.dtype,
            track_grad_norms=True,
        )

    def data_key(self):
        """(name, n_samples, noise, seed): what a built-in data set depends on (image sets: the name only)."""
        return (self.dataset, self.n_samples, self.noise, self.seed) if self.is_toy else (self.dataset, 0, 0.0, 0)


UPLOADED = "csv"  # the data set name of a user's own CSV file (kept per session, never in a link's data)

# Learning rates offered on a log scale (1-2-3-5 steps); a value from a link is added to them.
LR_STEPS = tuple(round(m * 10.0**e, 6) for e in range(-4, 1) for m in (1, 2, 3, 5)) + (10.0,)
# The learning rate each optimizer starts from when the user has not chosen one.
DEFAULT_LR = {"sgd": 0.3, "momentum": 0.03, "nesterov": 0.03, "adam": 0.01}

CHOICES = {
    "dataset": (*DATASETS, UPLOADED),
    "activation": tuple(ACTIVATIONS),
    "optimizer": OPTIMIZERS,
    "backend": BACKENDS,
    "dtype": DTYPES,
}

DEFAULTS = AppConfig()
MAX_TEXT = 40  # characters of a rejected value that its notice shows (the whole value is parsed)


def _parse_value(name, text):
    """The value of field ``name`` from URL text, or raise ValueError."""
    default = getattr(DEFAULTS, name)
    if name in CHOICES:
        if text not in CHOICES[name]:
            raise ValueError
        return text
    if isinstance(default, bool):
        if text not in ("0", "1"):
            raise ValueError
        return text == "1"
    if isinstance(default, int):
        value = int(text)
    else:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError
    lo, hi = UI_LIMITS[name]
    if not lo <= value <= hi:
        raise ValueError
    return value


def from_query(params):
    """(AppConfig, notices) from URL query parameters; a bad value falls back to its default.

    ``params`` maps names to strings (``st.query_params`` or a dict). Unknown names are ignored.
    Each notice is a sentence naming the rejected value and the default used instead.
    """
    values, notices = {}, []
    for f in fields(AppConfig):
        if f.name not in params:
            continue
        text = str(params[f.name])
        try:
            values[f.name] = _parse_value(f.name, text)
        except (ValueError, OverflowError):
            default = getattr(DEFAULTS, f.name)
            if f.name in CHOICES:
                hint = f"one of {', '.join(CHOICES[f.name])}"
            elif isinstance(getattr(DEFAULTS, f.name), bool):
                hint = "0 or 1"
            else:
                hint = "between {} and {}".format(*UI_LIMITS[f.name])
            shown = text[:MAX_TEXT] + ("…" if len(text) > MAX_TEXT else "")
            notices.append(f"Ignored {f.name}={shown} from the link (expected {hint}); using {_text(default)}.")
    return replace(DEFAULTS, **values), notices


def lr_options(current):
    """The learning rates the slider offers: ``LR_STEPS`` plus ``current`` (e.g. a value from a link)."""
    return sorted({*LR_STEPS, float(current)})


def to_query(config):
    """The URL query parameters that reopen ``config`` (only those that differ from defaults)."""
    return {k: _text(v) for k, v in asdict(config).items() if v != getattr(DEFAULTS, k)}


def _text(value):
    return str(int(value)) if isinstance(value, bool) else str(value)

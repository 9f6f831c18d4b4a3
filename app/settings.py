"""The app's configuration: one dataclass, its URL form, and hostile-value-proof parsing.

Pure Python (no streamlit), so the URL round trip is tested without a browser.
"""

import math
from dataclasses import asdict, dataclass, fields, replace

from core.activations import ACTIVATIONS
from core.config import BACKENDS, DTYPES, TrainConfig
from core.data import DATASETS, TOY_DATASETS
from core.optim import OPTIMIZERS

# What the UI offers; core enforces its own, wider limits (core.config) as a second line.
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
            hidden_dims=self.hidden_dims, activation=self.activation, optimizer=self.optimizer, lr=self.lr,
            batch_size=self.batch_size, epochs=self.epochs, seed=self.seed, backend=self.backend,
            dtype=self.dtype, track_grad_norms=True,
        )  # fmt: skip

    def data_key(self):
        """(name, n_samples, noise, seed): what the data set depends on (image sets: the name only)."""
        return (self.dataset, self.n_samples, self.noise, self.seed) if self.is_toy else (self.dataset, 0, 0.0, 0)


CHOICES = {
    "dataset": DATASETS,
    "activation": tuple(ACTIVATIONS),
    "optimizer": OPTIMIZERS,
    "backend": BACKENDS,
    "dtype": DTYPES,
}

DEFAULTS = AppConfig()


def _parse_value(name, text):
    """The value of field ``name`` from URL text, or raise ValueError."""
    default = getattr(DEFAULTS, name)
    if name in CHOICES:
        if text not in CHOICES[name]:
            raise ValueError
        return text
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
        text = str(params[f.name])[:40]
        try:
            values[f.name] = _parse_value(f.name, text)
        except (ValueError, OverflowError):
            default = getattr(DEFAULTS, f.name)
            hint = (
                f"one of {', '.join(CHOICES[f.name])}"
                if f.name in CHOICES
                else "between {} and {}".format(*UI_LIMITS[f.name])
            )
            notices.append(f"Ignored `{f.name}={text}` from the link (expected {hint}); using {default}.")
    return replace(DEFAULTS, **values), notices


def to_query(config):
    """The URL query parameters that reopen ``config`` (only those that differ from defaults)."""
    return {k: str(v) for k, v in asdict(config).items() if v != getattr(DEFAULTS, k)}

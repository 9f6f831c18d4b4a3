"""Configuration of a training run, and the limits every entry point enforces.

``TrainConfig`` holds each default once (the course recipe); the CLI's defaults and help
text are read from it, and ``validate`` checks a config against the table ``RULES``.
"""

import math
from dataclasses import asdict, dataclass, field, fields, replace

from core.nn.activations import ACTIVATIONS
from core.nn.optim import OPTIMIZERS

BACKENDS = ("numpy", "torch")
DTYPES = ("float32", "float64")

# Limits of core (the CLI): an MLP beyond them does not train on a laptop CPU in minutes.
# The app offers tighter ones (core.links.UI_LIMITS) so that every click answers within a second.
MAX_HIDDEN_LAYERS = 12
MAX_WIDTH = 1024
MAX_PARAMETERS = 5_000_000
MAX_BATCH_SIZE = 65_536
MAX_EPOCHS = 500
MAX_STEPS = 250_000  # epochs × mini-batches per epoch: one run's step history stays a few MB
MAX_LR = 10.0


class ConfigError(ValueError):
    """An invalid hyperparameter; the message is one line a user can act on."""


def _option(default, help):
    """A dataclass field with its help text, which the CLI shows next to the default."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. Defaults are the course assignment's recipe."""

    hidden_dims: tuple = _option((128,), "widths of the hidden layers; none for softmax regression")
    activation: str = _option("elu", "activation of the hidden layers")
    batch_norm: bool = _option(False, "batch norm between each hidden Linear and its activation")
    optimizer: str = _option("sgd", "update rule")
    lr: float = _option(0.1, "learning rate")
    momentum: float = _option(0.9, "momentum of the momentum and nesterov optimizers")
    weight_decay: float = _option(0.0, "L2 coefficient added to the gradient")
    batch_size: int = _option(128, "samples per mini-batch")
    epochs: int = _option(10, "passes over the training set")
    seed: int = _option(42, "seed of the initial weights and of the batch order")
    backend: str = _option("numpy", "numpy (hand-derived backward) or torch (autograd)")
    dtype: str = _option("float32", "floating-point precision (the app uses float64, see README)")
    track_grad_norms: bool = _option(False, "record the gradient norm of every layer at every step")

    def to_dict(self):
        d = asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        return d

    def replace(self, **changes):
        """A copy with ``changes``, validated."""
        return validate(replace(self, **changes))


DEFAULTS = TrainConfig()
FIELD_HELP = {f.name: f.metadata["help"] for f in fields(TrainConfig)}


def n_parameters(n_inputs, hidden_dims, n_classes, batch_norm=False):
    """Trained numbers of an MLP with these widths: weights and biases; with batch norm each hidden
    unit trades its bias for γ and β (one more number per unit)."""
    widths = [n_inputs, *hidden_dims, n_classes]
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:])) + (sum(hidden_dims) if batch_norm else 0)


def _whole(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(v, lo, hi, open_low=False):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return ok and (lo < v if open_low else lo <= v) and v <= hi


# (what is checked, the one-line reason when it fails), in the order a user reads them.
RULES = [
    (
        lambda c: len(c.hidden_dims) <= MAX_HIDDEN_LAYERS,
        lambda c: f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(c.hidden_dims)}",
    ),
    (
        lambda c: all(_whole(h, 1, MAX_WIDTH) for h in c.hidden_dims),
        lambda c: f"each hidden width must be a whole number from 1 to {MAX_WIDTH}, got {list(c.hidden_dims)}",
    ),
    (
        lambda c: c.activation in ACTIVATIONS,
        lambda c: f"unknown activation {c.activation!r}: choose one of {', '.join(ACTIVATIONS)}",
    ),
    (
        lambda c: c.optimizer in OPTIMIZERS,
        lambda c: f"unknown optimizer {c.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}",
    ),
    (
        lambda c: _number(c.lr, 0, MAX_LR, open_low=True),
        lambda c: f"learning rate must be a finite number in (0, {MAX_LR:g}], got {c.lr!r}",
    ),
    (
        lambda c: _number(c.momentum, 0, 1) and c.momentum < 1,
        lambda c: f"momentum must be in [0, 1), got {c.momentum!r}",
    ),
    (
        lambda c: not (c.optimizer == "nesterov" and c.momentum == 0),
        lambda c: "Nesterov momentum needs a momentum above 0 (e.g. 0.9)",
    ),
    (lambda c: _number(c.weight_decay, 0, 1), lambda c: f"weight decay must be in [0, 1], got {c.weight_decay!r}"),
    (
        lambda c: _whole(c.batch_size, 1, MAX_BATCH_SIZE),
        lambda c: f"batch size must be a whole number from 1 to {MAX_BATCH_SIZE:,}, got {c.batch_size!r}",
    ),
    (
        lambda c: not (c.batch_norm and c.batch_size == 1),
        lambda c: "batch norm needs a batch size of at least 2: the variance of a single sample is 0",
    ),
    (
        lambda c: _whole(c.epochs, 1, MAX_EPOCHS),
        lambda c: f"epochs must be a whole number from 1 to {MAX_EPOCHS}, got {c.epochs!r}",
    ),
    (lambda c: _whole(c.seed, 0, 2**32 - 1), lambda c: f"seed must be a whole number from 0 to 2³²−1, got {c.seed!r}"),
    (lambda c: c.backend in BACKENDS, lambda c: f"unknown backend {c.backend!r}: choose numpy or torch"),
    (lambda c: c.dtype in DTYPES, lambda c: f"unknown dtype {c.dtype!r}: choose float32 or float64"),
]


def validate(config, n_inputs=None, n_classes=None, n_train=None):
    """Raise ConfigError with a one-line reason if ``config`` cannot train; return it otherwise.

    With ``n_inputs`` and ``n_classes`` the parameter count is checked against MAX_PARAMETERS too;
    with ``n_train`` (training samples) the run's step count against MAX_STEPS.
    """
    for ok, reason in RULES:
        if not ok(config):
            raise ConfigError(reason(config))
    if n_inputs is not None and n_classes is not None:
        p = n_parameters(n_inputs, config.hidden_dims, n_classes, config.batch_norm)
        if p > MAX_PARAMETERS:
            raise ConfigError(
                f"this network has {p:,} parameters, more than the limit of {MAX_PARAMETERS:,}: "
                "use fewer or narrower hidden layers"
            )
    if n_train is not None:
        per_epoch = -(-n_train // config.batch_size)  # the last mini-batch may be smaller
        if config.epochs * per_epoch > MAX_STEPS:
            raise ConfigError(
                f"{config.epochs} epochs of {per_epoch:,} mini-batches are {config.epochs * per_epoch:,} steps, more "
                f"than the limit of {MAX_STEPS:,}: use a larger batch size or fewer epochs"
            )
    return config

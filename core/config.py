"""Configuration of a training run, with the limits every entry point enforces."""

import math
from dataclasses import asdict, dataclass, field

from core.activations import ACTIVATIONS
from core.optim import OPTIMIZERS

BACKENDS = ("numpy", "torch")
DTYPES = ("float32", "float64")

# Limits: an MLP beyond them does not train interactively on a laptop CPU.
MAX_HIDDEN_LAYERS = 12
MAX_WIDTH = 1024
MAX_PARAMETERS = 5_000_000
MAX_BATCH_SIZE = 65_536
MAX_EPOCHS = 500
MAX_LR = 10.0


class ConfigError(ValueError):
    """An invalid hyperparameter; the message is one line a user can act on."""


@dataclass
class TrainConfig:
    """Everything that defines a run. Defaults are the course assignment's recipe."""

    hidden_dims: tuple = (128,)  # widths of the hidden layers; () is softmax regression
    activation: str = "elu"  # one of core.activations.ACTIVATIONS
    optimizer: str = "sgd"  # sgd | momentum | nesterov | adam
    lr: float = 0.1  # learning rate
    momentum: float = 0.9  # for momentum and nesterov
    weight_decay: float = 0.0  # L2 coefficient λ, added to the gradient
    batch_size: int = 128
    epochs: int = 10
    seed: int = 42  # initial weights and batch order
    backend: str = "numpy"  # numpy | torch
    dtype: str = "float32"  # float32 | float64
    track_grad_norms: bool = field(default=False)  # record ‖∂L/∂W_l‖ at every step

    def to_dict(self):
        d = asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        return d


def n_parameters(n_inputs, hidden_dims, n_classes):
    """Weights and biases of an MLP with these widths."""
    widths = [n_inputs, *hidden_dims, n_classes]
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def validate(config, n_inputs=None, n_classes=None):
    """Raise ConfigError with a one-line reason if ``config`` cannot train; return it otherwise."""
    c = config
    if len(c.hidden_dims) > MAX_HIDDEN_LAYERS:
        raise ConfigError(f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(c.hidden_dims)}")
    for h in c.hidden_dims:
        if not isinstance(h, int) or not 1 <= h <= MAX_WIDTH:
            raise ConfigError(f"each hidden width must be a whole number from 1 to {MAX_WIDTH}, got {h!r}")
    if c.activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {c.activation!r}: choose one of {', '.join(ACTIVATIONS)}")
    if c.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {c.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    if not (isinstance(c.lr, (int, float)) and math.isfinite(c.lr) and 0 < c.lr <= MAX_LR):
        raise ConfigError(f"learning rate must be a finite number in (0, {MAX_LR}], got {c.lr!r}")
    if not (math.isfinite(c.momentum) and 0 <= c.momentum < 1):
        raise ConfigError(f"momentum must be in [0, 1), got {c.momentum!r}")
    if c.optimizer == "nesterov" and c.momentum == 0:
        raise ConfigError("Nesterov momentum needs a momentum above 0 (e.g. 0.9)")
    if not (math.isfinite(c.weight_decay) and 0 <= c.weight_decay <= 1):
        raise ConfigError(f"weight decay must be in [0, 1], got {c.weight_decay!r}")
    if not isinstance(c.batch_size, int) or not 1 <= c.batch_size <= MAX_BATCH_SIZE:
        raise ConfigError(f"batch size must be a whole number from 1 to {MAX_BATCH_SIZE}, got {c.batch_size!r}")
    if not isinstance(c.epochs, int) or not 1 <= c.epochs <= MAX_EPOCHS:
        raise ConfigError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, got {c.epochs!r}")
    if not isinstance(c.seed, int) or not 0 <= c.seed < 2**32:
        raise ConfigError(f"seed must be a whole number from 0 to 2³²−1, got {c.seed!r}")
    if c.backend not in BACKENDS:
        raise ConfigError(f"unknown backend {c.backend!r}: choose numpy or torch")
    if c.dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {c.dtype!r}: choose float32 or float64")
    if n_inputs is not None and n_classes is not None:
        p = n_parameters(n_inputs, c.hidden_dims, n_classes)
        if p > MAX_PARAMETERS:
            raise ConfigError(
                f"this network has {p:,} parameters, more than the limit of {MAX_PARAMETERS:,}: "
                "use fewer or narrower hidden layers"
            )
    return config

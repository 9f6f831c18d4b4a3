"""The course assignment's interface to the NumPy MLP.

``from core.numpy_mlp import LinearModule, ELUModule, SoftMaxModule, CrossEntropyModule, MLP`` works as
in the assignment (its unit tests import exactly this); the code lives in ``core.nn``.
"""

from core.nn.activations import ELUModule
from core.nn.batchnorm import BatchNormModule
from core.nn.layers import LinearModule
from core.nn.losses import CrossEntropyModule, SoftMaxModule
from core.nn.mlp import MLP

__all__ = ["LinearModule", "ELUModule", "SoftMaxModule", "CrossEntropyModule", "BatchNormModule", "MLP"]

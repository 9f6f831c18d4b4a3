"""Element-wise activations, each forward with its backward right under it.

Every module caches what its derivative needs, ``backward(dout)`` returns dx = dout ⊙ f'(x).
Constants are Python floats, so float32 inputs stay float32 (NumPy 2 does not upcast).
"""

import numpy as np


class ELUModule:
    """ELU(x) = x for x > 0, α(eˣ − 1) otherwise.  Shape: any, output like input."""

    def __init__(self, alpha=1.0):
        self.alpha = float(alpha)
        self.x = self.out = None

    def forward(self, x):
        self.x = x
        self.out = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return self.out

    def backward(self, dout):
        # elu'(x) = 1 or αeˣ; not out + α, which cancels to 0 for very negative x
        return dout * np.where(self.x > 0, 1.0, self.alpha * np.exp(np.minimum(self.x, 0)))

    def clear_cache(self):
        self.x = self.out = None


class ReLUModule:
    """ReLU(x) = max(x, 0)."""

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * (self.x > 0)  # relu'(x) = 1[x > 0]

    def clear_cache(self):
        self.x = None


class LeakyReLUModule:
    """LeakyReLU(x) = x for x > 0, slope·x otherwise (PyTorch's default slope 0.01)."""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, dout):
        return np.where(self.x > 0, dout, self.negative_slope * dout)  # leaky'(x) = 1 or slope

    def clear_cache(self):
        self.x = None


class TanhModule:
    """tanh(x)."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out**2)  # tanh'(x) = 1 − tanh²(x)

    def clear_cache(self):
        self.out = None


class SigmoidModule:
    """σ(x) = 1 / (1 + e⁻ˣ), computed without overflow for large |x|."""

    def forward(self, x):
        e = np.exp(-np.abs(x))
        self.out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)  # σ'(x) = σ(x)(1 − σ(x))

    def clear_cache(self):
        self.out = None


class IdentityModule:
    """f(x) = x: with it the MLP is a linear model (a useful baseline)."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout  # f'(x) = 1

    def clear_cache(self):
        pass


ACTIVATIONS = {
    "elu": ELUModule,
    "relu": ReLUModule,
    "leaky_relu": LeakyReLUModule,
    "tanh": TanhModule,
    "sigmoid": SigmoidModule,
    "identity": IdentityModule,
}


def make_activation(name):
    """The activation module called ``name`` (one of ``ACTIVATIONS``), with default parameters."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()

"""The affine layer, forward and backward side by side.

Weight layout follows PyTorch's ``nn.Linear``: ``W`` has shape (out_features, in_features)
and the layer computes ``z = x Wᵀ + b``, so weights copy into torch without a transpose.
"""

import numpy as np


class LinearModule:
    """Affine map ``z = x Wᵀ + b`` with Kaiming initialisation.

    Args:
        in_features: D, size of each input sample.
        out_features: H, size of each output sample.
        input_layer: True for the first layer. Its inputs are raw (standardized) features
            rather than the output of an activation, so its weights are drawn with
            std = 1/√D instead of Kaiming's √(2/D).
        dtype: float64 by default (finite differences need it), float32 on request.
        rng: a ``np.random.Generator``; ``np.random`` (the global seed) when None, as the
            course's tests expect.
        bias: False leaves b out (z = x Wᵀ), as before a batch norm, whose β takes its place.

    Shape:
        x: (N, D), W: (H, D), b: (H,), z: (N, H).
    """

    def __init__(self, in_features, out_features, input_layer=False, dtype=np.float64, rng=None, bias=True):
        D, H = int(in_features), int(out_features)
        if D < 1 or H < 1:
            raise ValueError(f"a linear layer needs at least one input and one output, got {D}→{H}")
        std = np.sqrt(1.0 / D) if input_layer else np.sqrt(2.0 / D)
        normal = rng.standard_normal if rng is not None else np.random.standard_normal
        self.input_layer = input_layer
        self.params = {"weight": (std * normal((H, D))).astype(dtype)}
        self.grads = {"weight": np.zeros_like(self.params["weight"])}
        if bias:
            self.params["bias"], self.grads["bias"] = np.zeros(H, dtype=dtype), np.zeros(H, dtype=dtype)
        self.x = None

    def forward(self, x):
        """z = x Wᵀ + b.  x: (N, D) → z: (N, H)."""
        self.x = x
        z = x @ self.params["weight"].T  # (N, H)
        return z + self.params["bias"] if "bias" in self.params else z

    def backward(self, dout, need_dx=True):
        """Fill ``grads`` from dout = ∂L/∂z (N, H) and return dx = ∂L/∂x (N, D).

        With ``need_dx=False`` (the input layer during training) dx is skipped and None returned.
        """
        W, x = self.params["weight"], self.x
        self.grads["weight"] = dout.T @ x  # ∂z/∂W: (H, N) @ (N, D) → (H, D)
        if "bias" in self.params:
            self.grads["bias"] = dout.sum(axis=0)  # ∂z/∂b = 1, summed over the batch
        return dout @ W if need_dx else None  # ∂z/∂x = W: (N, H) @ (H, D) → (N, D)

    def clear_cache(self):
        self.x = None

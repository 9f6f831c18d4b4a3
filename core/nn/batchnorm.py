"""Batch normalization over the batch dimension, forward and backward side by side.

Conventions follow ``torch.nn.BatchNorm1d`` so the two backends agree to round-off:
``momentum`` is the weight of the *new* batch in the running estimates
(running ← (1 − momentum)·running + momentum·batch), the *biased* batch variance normalizes
the batch, and the *unbiased* one (N/(N − 1)·σ²) goes into ``running_var``.
"""

import numpy as np


class BatchNormModule:
    """y = γ x̂ + β with x̂ = (x − μ_B) / √(σ²_B + ε), per feature over the batch.

    In training mode μ_B and σ²_B are the mean and biased variance of the batch, and the
    running estimates are updated; in eval mode the running mean and variance are used
    instead, so a sample's output no longer depends on the rest of the batch.

    Args:
        num_features: H, features per sample.
        eps: ε added to the variance before the square root.
        momentum: weight of the new batch in the running estimates (PyTorch's convention).
        dtype: float64 by default, float32 on request.

    Shape:
        x (N, H) → y (N, H); γ, β, running_mean, running_var: (H,).

    ``params`` holds γ ("weight") and β ("bias"), the trained parameters; ``running_mean`` and
    ``running_var`` are buffers: updated by forward passes in training mode, never by gradients.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float64):
        H = int(num_features)
        if H < 1:
            raise ValueError(f"batch norm needs at least one feature, got {H}")
        self.eps, self.momentum = float(eps), float(momentum)
        self.params = {"weight": np.ones(H, dtype=dtype), "bias": np.zeros(H, dtype=dtype)}
        self.grads = {"weight": np.zeros(H, dtype=dtype), "bias": np.zeros(H, dtype=dtype)}
        self.running_mean = np.zeros(H, dtype=dtype)
        self.running_var = np.ones(H, dtype=dtype)
        self.training = True
        self.x_hat = self.inv_std = None

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def forward(self, x, update_stats=True):
        """y = γ (x − μ) / √(σ² + ε) + β.  x: (N, H) → y: (N, H).

        ``update_stats=False`` leaves the running estimates alone (a recomputation during
        gradient checkpointing must not count the batch twice).
        """
        N = x.shape[0]
        if self.training:
            if N < 2:
                raise ValueError(
                    "batch norm in training mode needs at least 2 samples per batch: the variance of a "
                    "single sample is 0. Use a batch size of 2 or more, or eval mode for one sample."
                )
            mean = x.mean(axis=0)  # (H,)
            var = x.var(axis=0)  # (H,) biased: normalizes the batch
            if update_stats:
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * mean
                self.running_var = (1 - m) * self.running_var + m * var * (N / (N - 1))  # unbiased
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (H,)
        self.x_hat = (x - mean) * self.inv_std  # (N, H)
        return self.params["weight"] * self.x_hat + self.params["bias"]

    def backward(self, dout):
        """Fill ``grads`` from dout = ∂L/∂y (N, H) and return dx = ∂L/∂x (N, H).

        Derivation (training mode; sums over the batch n = 1 … N, per feature):
            ∂L/∂β = Σₙ doutₙ,   ∂L/∂γ = Σₙ doutₙ x̂ₙ,   ∂L/∂x̂ₙ = γ doutₙ.
            x̂ₙ depends on xₙ directly and through μ and σ², which depend on every xₘ:
                ∂x̂ₙ/∂xₘ = (1/√(σ²+ε)) (δₙₘ − 1/N − x̂ₙ x̂ₘ / N).
            Summing ∂L/∂x̂ₙ ∂x̂ₙ/∂xₘ over n gives the compact form
                dxₘ = γ / (N √(σ²+ε)) · (N doutₘ − Σₙ doutₙ − x̂ₘ Σₙ doutₙ x̂ₙ).
        In eval mode μ and σ² are constants (the running estimates): dx = γ dout / √(var + ε).
        """
        N = dout.shape[0]
        gamma, x_hat, inv_std = self.params["weight"], self.x_hat, self.inv_std
        self.grads["bias"] = dout.sum(axis=0)  # ∂y/∂β = 1: (H,)
        self.grads["weight"] = (dout * x_hat).sum(axis=0)  # ∂y/∂γ = x̂: (H,)
        if not self.training:
            return dout * (gamma * inv_std)  # μ, σ² constant: (N, H)
        # dx = γ/(N√(σ²+ε)) · (N dout − Σ dout − x̂ Σ dout x̂): (N, H)
        return (gamma * inv_std / N) * (N * dout - self.grads["bias"] - x_hat * self.grads["weight"])

    def clear_cache(self):
        self.x_hat = self.inv_std = None

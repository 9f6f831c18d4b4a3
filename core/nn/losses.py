"""Softmax, cross-entropy, and the fused softmax + cross-entropy that training uses."""

import numpy as np


class SoftMaxModule:
    """s = softmax(x) along the classes, computed on x − max(x) so eˣ never overflows.

    Shape: x (N, C) → s (N, C).
    """

    def forward(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.out = e / e.sum(axis=1, keepdims=True)
        return self.out

    def backward(self, dout):
        """dx = s ⊙ (dout − Σⱼ doutⱼ sⱼ), i.e. dout times the Jacobian diag(s) − s sᵀ, row by row."""
        s = self.out
        return s * (dout - (dout * s).sum(axis=1, keepdims=True))  # (N, C)

    def clear_cache(self):
        self.out = None


class CrossEntropyModule:
    """L = −(1/N) Σₙ log x[n, yₙ] for probabilities x (N, C) and integer labels y (N,)."""

    def forward(self, x, y):
        N = x.shape[0]
        return -np.log(x[np.arange(N), y]).mean()

    def backward(self, x, y):
        """dx[n, c] = −1[c = yₙ] / (N x[n, c]).  Shape (N, C)."""
        N = x.shape[0]
        dx = np.zeros_like(x)
        dx[np.arange(N), y] = -1.0 / (N * x[np.arange(N), y])
        return dx


def log_softmax(z):
    """log softmax(z) = z − max − log Σ e^(z − max), stable for any z.  (N, C) → (N, C)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, y):
    """Loss and gradient of cross-entropy on softmax(logits), fused for stability.

    L = −(1/N) Σₙ log softmax(z)[n, yₙ];  ∂L/∂z = (softmax(z) − onehot(y)) / N.

    Shape: logits (N, C), y (N,) ints → (loss: float, dlogits: (N, C), probs: (N, C)).
    """
    N = logits.shape[0]
    logp = log_softmax(logits)
    loss = -logp[np.arange(N), y].mean()
    probs = np.exp(logp)
    dlogits = probs.copy()
    dlogits[np.arange(N), y] -= 1
    dlogits /= N
    return float(loss), dlogits, probs

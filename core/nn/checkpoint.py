"""Gradient checkpointing for the NumPy MLP: keep every k-th layer's input, recompute the rest.

Plain backpropagation keeps every layer's activations from the forward pass until the backward
pass needs them: memory grows like n, the number of layers. Checkpointing keeps only the input of
every k-th layer (n/k checkpoints); the backward pass recomputes one segment of k layers at a time
from its checkpoint and backpropagates through it. The peak holds n/k checkpoints plus one
segment, smallest for k ≈ √n: O(√n) layers of activations for one extra forward pass.
"""

import math

import numpy as np

from core.nn.losses import softmax_cross_entropy


def checkpoint_interval(k, n_layers):
    """The segment length for ``checkpoint_every=k`` in a network of ``n_layers`` = L blocks (its Linear layers:
    the hidden layers and the output layer): "sqrt" gives k = ⌈√L⌉, the one definition the app and the README
    use; an integer must be ≥ 1."""
    if k == "sqrt":
        return max(1, math.ceil(math.sqrt(n_layers)))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"checkpoint_every must be a whole number ≥ 1 or 'sqrt', got {k!r}")
    return int(k)


def segments(n_layers, k):
    """The segments [(start, end), …] (0-based, end exclusive) of n_layers blocks cut every k."""
    return [(s, min(s + k, n_layers)) for s in range(0, n_layers, k)]


def checkpointed_loss_and_backward(mlp, x, y, checkpoint_every):
    """Loss and every gradient of ``mlp`` on (x (N, D), y (N,)), holding O(n/k + k) layers of activations.

    Forward: each block's caches are dropped as soon as its output is computed; only the input
    of blocks 0, k, 2k, … is kept. Backward, last segment first: recompute the segment's forward
    from its checkpoint (batch norm with ``update_stats=False``: the running estimates were
    already updated once), backpropagate through it, drop its caches.

    The result equals the plain ``loss_and_backward`` to round-off; ``mlp.zs``, ``activations``
    and ``deltas`` stay empty (nothing of the other layers survives).
    Returns (loss, probs (N, C)).
    """
    n = mlp.n_layers
    k = checkpoint_interval(checkpoint_every, n)
    mlp.clear_cache()
    a = np.asarray(x, dtype=mlp.dtype)  # as the plain forward: lists and other dtypes too
    checkpoints = {}
    for l in range(n):
        if l % k == 0:
            checkpoints[l] = a  # the segment's input: kept until its backward
        a = mlp.block_forward(l, a)[2]
        _drop(mlp, l)
    loss, dout, probs = softmax_cross_entropy(a, y)  # dout = δ⁽ᴸ⁾ = ∂L/∂logits
    del a
    for start, end in reversed(segments(n, k)):
        a = checkpoints.pop(start)
        for l in range(start, end):  # recompute the segment, caching what its backward needs
            a = mlp.block_forward(l, a, update_stats=False)[2]
        del a
        for l in range(end - 1, start - 1, -1):
            dout = mlp.block_backward(l, dout, need_dx=l > 0)[2]
            _drop(mlp, l)
    return loss, probs


def _drop(mlp, l):
    for module in mlp.block_modules(l):
        module.clear_cache()

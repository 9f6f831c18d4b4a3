"""The hand-derived gradients next to PyTorch autograd's, from identical weights and data.

NumPy: the project's one backward (``MLP.loss_and_backward``). PyTorch: ``core.nn.torch_mlp.TorchMLP``,
``F.cross_entropy`` and ``backward()``, with ``retain_grad`` on every z (and batch norm's output) so
δ can be read. Both in the same dtype, in the same batch-norm mode, on the CPU.
"""

import numpy as np
import pandas as pd

from core.nn.gradcheck import rel_error
from core.nn.mlp import MLP


def autograd_pass(weights, activation, X, y, mode="train", dtype="float64"):
    """PyTorch's loss, gradients and δs: {"loss": float, "grads": {name: array}, "deltas": [(N, H_l)…],
    "bn_deltas": [(N, H_l)…]} (NumPy arrays), from ``weights`` (the common dict form) on (X, y)."""
    import torch
    import torch.nn.functional as F

    from core.nn.torch_mlp import TorchMLP

    net = TorchMLP.from_weights(weights, activation, dtype=dtype)
    net.train() if mode == "train" else net.eval()
    x = torch.from_numpy(np.atleast_2d(np.asarray(X, dtype=dtype)))
    zs, bn_outs, _ = net.forward_all(x)
    loss = F.cross_entropy(zs[-1], torch.from_numpy(np.atleast_1d(np.asarray(y, dtype=np.int64))))
    loss.backward()
    return {
        "loss": loss.item(),
        "grads": net.numpy_grads(),
        "deltas": [z.grad.numpy() for z in zs],
        "bn_deltas": [u.grad.numpy() for u in bn_outs],
    }


def compare_with_autograd(trace, dtype="float64"):
    """Compare a ``BackwardTrace`` (float64, the numbers the page shows) with autograd.

    In float64 the trace's own numbers are compared; in float32 both sides are recomputed in float32
    (the NumPy MLP from the same weights, same mode), so the table shows float32 round-off.

    Returns (table, autograd): table has one row per layer and quantity ("δ = ∂L/∂z", "∂L/∂W",
    "∂L/∂b", or with batch norm "∂L/∂γ", "∂L/∂β" for the hidden layers): layer (1-based), quantity, shape,
    max_abs_diff = max |numpy − torch|, max_rel_diff (``core.nn.gradcheck.rel_error``), numpy_norm,
    torch_norm (Frobenius), finite (both free of NaN and inf); autograd is ``autograd_pass``'s dict.
    """
    torch_side = autograd_pass(trace.weights, trace.activation, trace.x, trace.y, trace.mode, dtype)
    if dtype == "float64":
        deltas, grads = trace.deltas, trace.grads
    else:
        mlp = MLP.from_weights(trace.weights, trace.activation, dtype=np.dtype(dtype))
        mlp.train() if trace.mode == "train" else mlp.eval()
        with np.errstate(all="ignore"):
            mlp.loss_and_backward(trace.x.astype(dtype), trace.y)
        deltas, grads = mlp.deltas, mlp.get_grads()
    rows = []
    for l in range(1, trace.n_layers + 1):
        pairs = [
            ("δ = ∂L/∂z", deltas[l - 1], torch_side["deltas"][l - 1]),
            ("∂L/∂W", grads[f"W{l}"], torch_side["grads"][f"W{l}"]),
        ]
        if f"b{l}" in grads:
            pairs.append(("∂L/∂b", grads[f"b{l}"], torch_side["grads"][f"b{l}"]))
        if f"gamma{l}" in grads:
            pairs += [
                ("∂L/∂γ", grads[f"gamma{l}"], torch_side["grads"][f"gamma{l}"]),
                ("∂L/∂β", grads[f"beta{l}"], torch_side["grads"][f"beta{l}"]),
            ]
        for quantity, a, b in pairs:
            a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
            with np.errstate(all="ignore"):
                rows.append(
                    {
                        "layer": l,
                        "quantity": quantity,
                        "shape": " × ".join(map(str, np.shape(a))),
                        "max_abs_diff": float(np.max(np.abs(a64 - b64))),
                        "max_rel_diff": rel_error(a64, b64),
                        "numpy_norm": float(np.linalg.norm(a64)),
                        "torch_norm": float(np.linalg.norm(b64)),
                        "finite": bool(np.isfinite(a64).all() and np.isfinite(b64).all()),
                    }
                )
    return pd.DataFrame(rows), torch_side

"""Every number of one backward pass, read from the project's one backward (``MLP.loss_and_backward``).

``backward_trace`` runs the NumPy MLP (float64) on a sample or a mini-batch and keeps its caches:
z, batch norm's output, a, f'(·), δ = ∂L/∂z, ∂L/∂(batch norm's output) and every gradient. The frames
the charts draw (``delta_frame``, ``delta_norms``, ``matrix_frame``) are built here too. Notation:
``core.analysis.text.notation``; L = (1/N) Σₙ Lₙ is the mean cross-entropy of the batch.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.text.notation import layer_name
from core.analysis.traces.forward_trace import ForwardTrace
from core.nn.mlp import MLP

MAX_CELLS = 64  # heatmaps show at most 64 × 64 cells; larger matrices are pooled


@dataclass
class BackwardTrace(ForwardTrace):
    """One forward and backward pass on a batch; the forward fields are ``ForwardTrace``'s, batch-shaped.

    Shape (N samples, widths D = H_0, H_1, …, H_L = C; lists indexed l − 1 for layer l):
        x (N, D), y (N,), probs (N, C).  zs[l-1]: z⁽ˡ⁾ (N, H_l).  bn_outs[l-1]: z̃⁽ˡ⁾ (N, H_l) with batch norm.
        activations[l]: a⁽ˡ⁾ (N, H_l), activations[0] = x, the last = probs.
        fprimes[l-1]: f'(z̃⁽ˡ⁾) (N, H_l) for the hidden layers.
        deltas[l-1]: δ⁽ˡ⁾ = ∂L/∂z⁽ˡ⁾ (N, H_l).  bn_deltas[l-1]: ∂L/∂z̃⁽ˡ⁾ (N, H_l) with batch norm.
        grads: {name: ∂L/∂name} in the common dict form (W1, b1, [gamma1, beta1,] …).
    """

    fprimes: list = None
    deltas: list = None
    bn_deltas: list = None
    grads: dict = None
    mode: str = "train"  # "train": batch norm uses the batch; "eval": its running estimates

    @property
    def widths(self):
        return [a.shape[1] for a in self.activations]

    @property
    def is_finite(self):
        """False when the loss, any δ or any gradient is NaN or infinite (a diverged network)."""
        arrays = [*self.deltas, *self.grads.values()]
        return bool(np.isfinite(self.loss) and all(np.isfinite(a).all() for a in arrays))


def backward_trace(weights, activation, X, y, mode=None):
    """Forward and backward pass of the MLP with ``weights`` on (X, y), in float64, every number kept.

    Forward:  z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾, [z̃⁽ˡ⁾ = BN(z⁽ˡ⁾)], a⁽ˡ⁾ = f(z̃⁽ˡ⁾) for l < L,  p = softmax(z⁽ᴸ⁾).
    Backward: δ⁽ᴸ⁾ = (p − onehot(y)) / N, ∂L/∂z̃⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ f'(z̃⁽ˡ⁾), δ⁽ˡ⁾ = BN's backward of it
              (= ∂L/∂z̃⁽ˡ⁾ without batch norm), ∂L/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀ a⁽ˡ⁻¹⁾, ∂L/∂b⁽ˡ⁾ = Σₙ δ⁽ˡ⁾ₙ.

    Args:
        weights: the common dict form; any float dtype.
        activation: a name from ``core.nn.activations.ACTIVATIONS``.
        X: (N, D) inputs, or one sample (D,).  y: (N,) integer labels, or one int.
        mode: "train" (batch norm normalizes with the batch, as a training step does) or "eval"
            (with its running estimates); default "train" for a batch and "eval" for one sample.
            The weights passed in are never changed.

    Returns a ``BackwardTrace``. NaN or infinite weights give NaN/inf numbers, never an error.
    """
    x = np.atleast_2d(np.asarray(X, dtype=np.float64))  # (N, D)
    y = np.atleast_1d(np.asarray(y, dtype=np.int64))  # (N,)
    mode = mode or ("train" if len(y) > 1 else "eval")
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    mlp = MLP.from_weights(weights, activation)
    mlp.train() if mode == "train" else mlp.eval()
    with np.errstate(all="ignore"):
        loss, probs = mlp.loss_and_backward(x, y)
        fprimes = [f.backward(np.ones_like(u)) for f, u in zip(mlp.nonlinearities, mlp.pre_activations)]
    return BackwardTrace(
        x=x,
        y=y,
        activation=activation,
        weights=weights,
        zs=mlp.zs,
        bn_outs=mlp.bn_outs,
        activations=mlp.activations,
        probs=probs,
        loss=loss,
        mlp=mlp,
        fprimes=fprimes,
        deltas=mlp.deltas,
        bn_deltas=mlp.bn_deltas,
        grads={k: g.copy() for k, g in mlp.get_grads().items()},
        mode=mode,
    )


# ---- frames for the charts -----------------------------------------------------------------


def pool_max_abs(M, max_rows=MAX_CELLS, max_cols=MAX_CELLS):
    """Shrink a matrix to at most max_rows × max_cols cells, keeping each block's largest |entry|.

    The sign is kept (the entry itself, not its absolute value), so a diverging colour scale
    still shows which way the gradient points.  NaN entries count as the largest.

    Shape: M (R, C) → (pooled (ceil(R/r), ceil(C/c)), row_starts, col_starts), r, c the block size.
    """
    M = np.atleast_2d(np.asarray(M, dtype=np.float64))
    R, C = M.shape
    r, c = -(-R // max_rows), -(-C // max_cols)  # block height and width
    if r == 1 and c == 1:
        return M, np.arange(R), np.arange(C)
    Rp, Cp = -(-R // r), -(-C // c)
    padded = np.zeros((Rp * r, Cp * c))
    padded[:R, :C] = M
    blocks = padded.reshape(Rp, r, Cp, c).transpose(0, 2, 1, 3).reshape(Rp, Cp, r * c)  # (Rp, Cp, r·c)
    key = np.where(np.isnan(blocks), np.inf, np.abs(blocks))
    pooled = np.take_along_axis(blocks, key.argmax(axis=2)[..., None], axis=2)[..., 0]
    return pooled, np.arange(0, R, r), np.arange(0, C, c)


def _blocks(starts, size):
    """'3' or '8–15' for each block of a pooled axis of length ``size``."""
    ends = [*starts[1:], size]
    return [f"{s}" if e - s == 1 else f"{s}–{e - 1}" for s, e in zip(starts, ends)]


BN_GRAD = "∂L/∂BN(z)"  # the quantity name of batch norm's output gradient in ``delta_frame``


def delta_frame(trace, n=0, max_cells=MAX_CELLS):
    """Long form of δ of sample ``n`` for the chart: one row per layer and unit (pooled to ``max_cells`` units).

    (Not Σₙ δₙ = ∂L/∂b: with batch norm in training mode that sum is exactly 0.) ``scaled`` is
    δ / max|δ| of its row, so each row of the heatmap uses the whole colour range. With batch norm
    each hidden layer has two rows: ∂L/∂BN(z) (what reaches batch norm's output) and δ = ∂L/∂z
    (what batch norm's backward passes on), in the order backpropagation computes them.

    Rows run from layer 1 up. Columns: layer (name), quantity ("δ = ∂L/∂z" or ``BN_GRAD``), row (the heatmap's
    row label), order (the step of backpropagation: 0 = the output layer), position, units, delta, scaled,
    layer_max.
    """
    steps = []  # (l, quantity, values (H_l,)) in the order backpropagation reaches them
    for l in range(trace.n_layers, 0, -1):
        if trace.batch_norm and l < trace.n_layers:
            steps.append((l, BN_GRAD, trace.bn_deltas[l - 1][n]))
        steps.append((l, "δ = ∂L/∂z", trace.deltas[l - 1][n]))
    rows = []
    for order, (l, quantity, v) in reversed(list(enumerate(steps))):  # rows from layer 1 up
        pooled, starts, _ = pool_max_abs(v[:, None], max_rows=max_cells, max_cols=1)
        pooled = pooled[:, 0]
        peak = float(np.nanmax(np.abs(pooled))) if np.isfinite(pooled).any() else np.nan
        scale = peak if np.isfinite(peak) and peak > 0 else 1.0
        name = layer_name(l, trace.n_layers)
        row = f"{name}: {quantity}" if trace.batch_norm and l < trace.n_layers else name
        for pos, (units, value) in enumerate(zip(_blocks(starts, len(v)), pooled)):
            rows.append(
                {
                    "layer": name,
                    "quantity": quantity,
                    "row": row,
                    "order": order,
                    "position": pos,
                    "units": units,
                    "delta": value,
                    "scaled": value / scale,
                    "layer_max": peak,
                }
            )
    columns = ["layer", "quantity", "row", "order", "position", "units", "delta", "scaled", "layer_max"]
    return pd.DataFrame(rows, columns=columns)


def delta_norms(trace):
    """‖δ⁽ˡ⁾‖ (Frobenius, over the whole batch) per layer: layer (name), l, norm; NaN where not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        norms = [float(np.linalg.norm(d)) for d in trace.deltas]
    return pd.DataFrame(
        {
            "layer": [layer_name(l, trace.n_layers) for l in range(1, trace.n_layers + 1)],
            "l": np.arange(1, trace.n_layers + 1),
            "norm": [v if np.isfinite(v) else np.nan for v in norms],
        }
    )


def matrix_frame(M, max_cells=MAX_CELLS):
    """Long form of a matrix for a heatmap, pooled to at most max_cells × max_cells blocks.

    Columns: row, col (position of the cell), rows, cols (the units it covers, e.g. '8–15'), value.
    Returns (frame, (r, c)), r × c the block size (1 × 1 when not pooled).
    """
    M = np.atleast_2d(M)
    pooled, rows, cols = pool_max_abs(M, max_cells, max_cells)
    r, c = np.meshgrid(np.arange(len(rows)), np.arange(len(cols)), indexing="ij")
    frame = pd.DataFrame(
        {
            "row": r.ravel(),
            "col": c.ravel(),
            "value": pooled.ravel(),
            "rows": np.array(_blocks(rows, M.shape[0]))[r.ravel()],
            "cols": np.array(_blocks(cols, M.shape[1]))[c.ravel()],
        }
    )
    return frame, (-(-M.shape[0] // len(rows)), -(-M.shape[1] // len(cols)))

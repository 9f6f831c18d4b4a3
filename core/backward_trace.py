"""Every number of one backward pass, and the same gradients from PyTorch autograd.

``backward_trace`` runs the forward pass and backpropagation written out layer by layer, in
float64, keeping what the Backward page shows: z, a, f'(z), δ = ∂L/∂z, ∂L/∂W and ∂L/∂b.
``chain_rule`` picks the numbers behind one weight's gradient, ``compare_with_autograd`` checks
the hand-derived gradients against PyTorch from identical weights.

Notation (stated once): layers are numbered l = 1 … L, layer L is the output (the logits);
a⁰ = x.  W^l has PyTorch's layout (H_l, H_{l-1}), so z^l = a^{l-1} W^lᵀ + b^l.  Units are
numbered from 0, like array indices.  L = (1/N) Σₙ Lₙ is the mean cross-entropy of the batch.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.activations import make_activation
from core.gradcheck import rel_error
from core.latex import tex_number as _tex_number
from core.losses import softmax_cross_entropy


def tex_number(x, digits=4):
    """A number for the chain-rule equations: ``core.latex.tex_number`` with negatives in brackets."""
    return _tex_number(x, digits, brackets=True)


# f'(z) of each activation, for the equations.
DERIVATIVE_TEX = {
    "elu": r"\begin{cases}1 & z>0\\ e^{z} & z\le 0\end{cases}",
    "relu": r"\mathbf{1}[z>0]",
    "leaky_relu": r"\begin{cases}1 & z>0\\ 0.01 & z\le 0\end{cases}",
    "tanh": r"1-\tanh^2 z",
    "sigmoid": r"\sigma(z)\,(1-\sigma(z))",
    "identity": "1",
}


@dataclass
class BackwardTrace:
    """One forward and backward pass of an MLP on a batch, every intermediate kept.

    Shape (N samples, widths D = H_0, H_1, …, H_L = C; lists indexed l − 1 for layer l):
        x (N, D), y (N,), probs (N, C), loss: float.
        zs[l-1]: z^l (N, H_l).  acts[l]: a^l (N, H_l), acts[0] = x (one longer than zs).
        fprimes[l-1]: f'(z^l) (N, H_l) for the hidden layers (L − 1 of them).
        deltas[l-1]: δ^l = ∂L/∂z^l (N, H_l).  grads[l-1]: (∂L/∂W^l (H_l, H_{l-1}), ∂L/∂b^l (H_l,)).
    """

    activation: str
    weights: list
    x: np.ndarray
    y: np.ndarray
    zs: list
    acts: list
    fprimes: list
    deltas: list
    grads: list
    probs: np.ndarray
    loss: float

    @property
    def n_layers(self):
        """L, the number of linear layers (hidden layers + 1)."""
        return len(self.weights)

    @property
    def widths(self):
        """[D, H_1, …, C]."""
        return [self.x.shape[1]] + [W.shape[0] for W, _ in self.weights]

    @property
    def finite(self):
        """False when any loss, δ or gradient is NaN or infinite (a diverged network)."""
        arrays = [*self.deltas, *(g for pair in self.grads for g in pair)]
        return bool(np.isfinite(self.loss) and all(np.isfinite(a).all() for a in arrays))


def backward_trace(weights, activation, X, y):
    """Forward and backward pass of the MLP with ``weights`` on (X, y), written out, in float64.

    Forward:  z^l = a^{l-1} W^lᵀ + b^l,  a^l = f(z^l) for l < L,  p = softmax(z^L).
    Backward: δ^L = (p − onehot(y)) / N,  δ^l = (δ^{l+1} W^{l+1}) ⊙ f'(z^l),
              ∂L/∂W^l = δ^lᵀ a^{l-1},  ∂L/∂b^l = Σₙ δ^l_n.

    Args:
        weights: [(W^1, b^1), …, (W^L, b^L)], W^l (H_l, H_{l-1}), b^l (H_l,); any float dtype.
        activation: a name from ``core.activations.ACTIVATIONS``.
        X: (N, D) inputs, or one sample (D,).  y: (N,) integer labels, or one int.

    Returns a ``BackwardTrace``. NaN or infinite weights give NaN/inf numbers, never an error.
    """
    x = np.atleast_2d(np.asarray(X, dtype=np.float64))  # (N, D)
    y = np.atleast_1d(np.asarray(y, dtype=np.int64))  # (N,)
    weights = [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in weights]
    L = len(weights)
    zs, acts, fprimes = [], [x], []
    with np.errstate(all="ignore"):
        for l, (W, b) in enumerate(weights, start=1):
            z = acts[-1] @ W.T + b  # (N, H_l)
            zs.append(z)
            if l < L:
                f = make_activation(activation)
                acts.append(f.forward(z))  # a^l = f(z^l)
                fprimes.append(f.backward(np.ones_like(z)))  # f'(z^l), from the module's own backward
        loss, delta, probs = softmax_cross_entropy(zs[-1], y)  # δ^L = (p − onehot(y)) / N
        deltas, grads = [delta], []
        for l in range(L, 0, -1):
            a_prev = acts[l - 1]  # (N, H_{l-1})
            grads.insert(0, (delta.T @ a_prev, delta.sum(axis=0)))  # ∂z/∂W = a^{l-1}, ∂z/∂b = 1
            if l > 1:
                delta = (delta @ weights[l - 1][0]) * fprimes[l - 2]  # δ^{l-1} = (δ^l W^l) ⊙ f'(z^{l-1})
                deltas.insert(0, delta)
    return BackwardTrace(activation, weights, x, y, zs, acts, fprimes, deltas, grads, probs, loss)


@dataclass
class ChainRule:
    """The numbers of ∂L/∂W^l_{ji} = Σₙ δ^l_{nj} a^{l-1}_{ni}, and of δ^l_{nj} for sample n.

    Shape: delta, a_prev, products (N,).  W_next, delta_next (H_{l+1},) for a hidden layer.
    """

    layer: int  # l, 1-based
    j: int  # output unit of W^l (row)
    i: int  # input unit of W^l (column)
    n: int  # the sample whose δ is expanded (0-based index in the batch)
    is_output: bool  # l = L: δ comes from softmax + cross-entropy
    delta: np.ndarray  # δ^l_{:, j}
    a_prev: np.ndarray  # a^{l-1}_{:, i}
    products: np.ndarray  # δ^l_{:, j} · a^{l-1}_{:, i}, one term per sample
    dW: float  # Σₙ products, the chain rule's answer
    dW_trace: float  # the same entry of the trace's ∂L/∂W^l (a matrix product)
    prob: float = np.nan  # output layer: p_{nj}
    target: float = np.nan  # output layer: 1[j = yₙ]
    W_next: np.ndarray | None = None  # hidden layer: W^{l+1}_{:, j}
    delta_next: np.ndarray | None = None  # hidden layer: δ^{l+1}_{n, :}
    upstream: float = np.nan  # hidden layer: Σ_k W^{l+1}_{kj} δ^{l+1}_{nk} = ∂L/∂a^l_{nj}
    z: float = np.nan  # hidden layer: z^l_{nj}
    fprime: float = np.nan  # hidden layer: f'(z^l_{nj})


def chain_rule(trace, layer, j, i, n=0):
    """The chain rule for the weight W^layer_{ji}, with the numbers from ``trace``.

    ∂L/∂W^l_{ji} = Σₙ δ^l_{nj} a^{l-1}_{ni}: the sum over the batch (each δₙ already carries the
    1/N of the batch mean).  δ^l_{nj} = (Σ_k W^{l+1}_{kj} δ^{l+1}_{nk}) · f'(z^l_{nj}) for a hidden
    layer, (p_{nj} − 1[j = yₙ]) / N for the output layer.  Indices are clipped into range.
    """
    L = trace.n_layers
    l = int(np.clip(layer, 1, L))
    H, H_prev = trace.weights[l - 1][0].shape
    j, i = int(np.clip(j, 0, H - 1)), int(np.clip(i, 0, H_prev - 1))
    n = int(np.clip(n, 0, len(trace.y) - 1))
    delta, a_prev = trace.deltas[l - 1][:, j], trace.acts[l - 1][:, i]  # (N,), (N,)
    with np.errstate(all="ignore"):
        products = delta * a_prev  # (N,)
        rule = ChainRule(l, j, i, n, l == L, delta, a_prev, products, float(products.sum()),
                         float(trace.grads[l - 1][0][j, i]))  # fmt: skip
        if rule.is_output:
            rule.prob, rule.target = float(trace.probs[n, j]), float(trace.y[n] == j)
        else:
            rule.W_next = trace.weights[l][0][:, j]  # (H_{l+1},)
            rule.delta_next = trace.deltas[l][n]  # (H_{l+1},)
            rule.upstream = float(rule.W_next @ rule.delta_next)
            rule.z, rule.fprime = float(trace.zs[l - 1][n, j]), float(trace.fprimes[l - 1][n, j])
    return rule


def _sum_terms(pairs, total_terms, shown=3):
    """'(u₁·v₁) + (u₂·v₂) + ⋯' for the first ``shown`` pairs of a sum of ``total_terms``."""
    text = " + ".join(rf"{tex_number(u)}\cdot{tex_number(v)}" for u, v in pairs[:shown])
    return text + (r" + \cdots" if total_terms > shown else "")


def _aligned(*rows):
    """Rows of an equation, aligned on their first '&'."""
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def chain_rule_latex(rule, activation):
    """The chain rule of ``rule`` (a ``ChainRule``) as LaTeX equations, with the numbers.

    Sample n is written 1-based in a batch (n = 1 … N), units 0-based.
    """
    l, j, i, n = rule.layer, rule.j, rule.i, rule.n
    N = len(rule.delta)
    s = "" if N == 1 else f"{n + 1},"  # the sample's subscript in a batch
    dW = rf"\frac{{\partial L}}{{\partial W^{{{l}}}_{{{j},{i}}}}}"
    if N == 1:
        a_name = f"x_{{{i}}}" if l == 1 else f"a^{{{l - 1}}}_{{{i}}}"
        lines = [rf"{dW} = \delta^{{{l}}}_{{{j}}}\cdot {a_name} = {tex_number(rule.delta[0])}\cdot"
                 rf"{tex_number(rule.a_prev[0])} = {tex_number(rule.dW)}"]  # fmt: skip
    else:
        a_name = f"x_{{n,{i}}}" if l == 1 else f"a^{{{l - 1}}}_{{n,{i}}}"
        terms = _sum_terms(list(zip(rule.delta, rule.a_prev)), N)
        lines = [_aligned(rf"{dW} &= \sum_{{n=1}}^{{{N}}}\delta^{{{l}}}_{{n,{j}}}\, {a_name}",
                          rf"&= {terms} = {tex_number(rule.dW)}")]  # fmt: skip
    d = rf"\delta^{{{l}}}_{{{s}{j}}}"
    if rule.is_output:
        y_n = "y" if N == 1 else f"y_{{{n + 1}}}"
        lines.append(
            rf"{d} = \frac{{p_{{{s}{j}}} - \mathbf{{1}}[{j} = {y_n}]}}{{N}} = \frac{{{tex_number(rule.prob)} - "
            rf"{rule.target:g}}}{{{N}}} = {tex_number(rule.delta[n])}"
        )
        return lines
    K = len(rule.W_next)
    fz = rf"f'(z^{{{l}}}_{{{s}{j}}})"
    lines.append(_aligned(
        rf"{d} &= \Big(\sum_{{k=0}}^{{{K - 1}}} W^{{{l + 1}}}_{{k,{j}}}\,\delta^{{{l + 1}}}_{{{s}k}}\Big)\cdot {fz}",
        rf"&= \big({_sum_terms(list(zip(rule.W_next, rule.delta_next)), K)}\big)\cdot {tex_number(rule.fprime)}",
        rf"&= {tex_number(rule.upstream)}\cdot{tex_number(rule.fprime)} = {tex_number(rule.delta[n])}",
    ))  # fmt: skip
    lines.append(rf"f'(z) = {DERIVATIVE_TEX.get(activation, '?')}, \qquad z^{{{l}}}_{{{s}{j}}} = "
                 rf"{tex_number(rule.z)}\;\Rightarrow\; {fz} = {tex_number(rule.fprime)}")  # fmt: skip
    return lines


def pool_max_abs(M, max_rows=64, max_cols=64):
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


def compare_with_autograd(weights, activation, X, y, dtype="float64"):
    """The hand-derived gradients next to PyTorch autograd's, from identical weights and data.

    NumPy: ``core.numpy_mlp.MLP.loss_and_backward``.  PyTorch: ``core.torch_mlp.TorchMLP``,
    ``F.cross_entropy`` and ``backward()``, with ``retain_grad`` on every z for δ.  Both in
    ``dtype`` ("float64": they agree to ~1e-16; "float32": ~1e-7), on the CPU.

    Returns a DataFrame, one row per layer and quantity ("δ = ∂L/∂z", "∂L/∂W", "∂L/∂b"):
        layer (1-based), quantity, shape, max_abs_diff = max |numpy − torch|,
        max_rel_diff = max |numpy − torch| / (|numpy| + |torch|) (``core.gradcheck.rel_error``),
        numpy_norm, torch_norm (Frobenius), finite (both free of NaN and inf).
    """
    import torch
    import torch.nn.functional as F

    from core.numpy_mlp import MLP
    from core.torch_mlp import TorchMLP

    x = np.atleast_2d(np.asarray(X, dtype=dtype))  # (N, D)
    y = np.atleast_1d(np.asarray(y, dtype=np.int64))  # (N,)
    D, hidden, C = x.shape[1], [W.shape[0] for W, _ in weights[:-1]], weights[-1][0].shape[0]
    mlp = MLP(D, hidden, C, activation, dtype=np.dtype(dtype))
    mlp.set_weights(weights)
    with np.errstate(all="ignore"):
        mlp.loss_and_backward(x, y)
    net = TorchMLP(D, hidden, C, activation, dtype=dtype, device="cpu").load_numpy_weights(mlp.get_weights())
    zs, _ = net.forward_all(torch.from_numpy(x))
    F.cross_entropy(zs[-1], torch.from_numpy(y)).backward()

    rows = []
    for l, ((dW, db), (tW, tb), delta, z) in enumerate(zip(mlp.get_grads(), net.numpy_grads(), mlp.deltas, zs), 1):
        for quantity, a, b in (("δ = ∂L/∂z", delta, z.grad.numpy()), ("∂L/∂W", dW, tW), ("∂L/∂b", db, tb)):
            with np.errstate(all="ignore"):
                rows.append({
                    "layer": l, "quantity": quantity, "shape": " × ".join(map(str, a.shape)),
                    "max_abs_diff": float(np.max(np.abs(a.astype(np.float64) - b))),
                    "max_rel_diff": rel_error(a, b),
                    "numpy_norm": float(np.linalg.norm(a.astype(np.float64))),
                    "torch_norm": float(np.linalg.norm(b.astype(np.float64))),
                    "finite": bool(np.isfinite(a).all() and np.isfinite(b).all()),
                })  # fmt: skip
    return pd.DataFrame(rows)

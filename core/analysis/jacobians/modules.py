"""The Jacobian ∂out/∂in of every module of a network, computed three ways.

A module maps one sample x (D_in,) to out (D_out,); its Jacobian J (D_out, D_in) has J[j, i] = ∂out_j/∂x_i:
    Linear z = x Wᵀ + b:         J = W;
    element-wise a = f(z):       J = diag(f′(z));
    softmax p = softmax(z):      J = diag(p) − p pᵀ;
    batch norm, eval mode:       J = diag(γ / √(running var + ε)).
Batch norm in training mode normalizes with the batch, so each output depends on every sample: for it the
input is a batch X (N, D) and J is the Jacobian of the flattened batch, (N·D, N·D), with
J[n·D + j, m·D + i] = ∂y[n, j]/∂X[m, i] (row-major, as ``X.ravel()``).

``method``: "analytic" (the formulas above), "autograd" (``torch.func.jacrev`` of the torch equivalent with the
same parameters) or "finite_difference" (central differences, ``core.nn.gradcheck.numerical_jacobian``); all in
float64, on copies: the modules and MLPs passed in are never changed. Backward never builds J: it computes the
vector-Jacobian product dout · J directly (``vjp_check`` compares the two).

The whole network's Jacobian is in ``core.analysis.jacobians.network``, the formulas in numbers in
``core.analysis.text.jacobian_equations``.
"""

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.nn.activations import ACTIVATIONS
from core.nn.batchnorm import BatchNormModule
from core.nn.gradcheck import numerical_jacobian
from core.nn.layers import LinearModule
from core.nn.losses import SoftMaxModule
from core.nn.mlp import MLP

METHODS = ("analytic", "autograd", "finite_difference")
METHOD_LABELS = {"analytic": "formula", "autograd": "autograd", "finite_difference": "finite differences"}
MAX_ENTRIES = 4_000_000  # entries of one Jacobian (32 MB in float64)
ACTIVATION_NAMES = {cls: name for name, cls in ACTIVATIONS.items()}


class JacobianError(ValueError):
    """A Jacobian that cannot be computed as asked; the message is one line a user can act on."""


def kind(module):
    """The module's kind: "linear", "batch_norm", "softmax" or its activation's name (a key of ``ACTIVATIONS``)."""
    if isinstance(module, LinearModule):
        return "linear"
    if isinstance(module, BatchNormModule):
        return "batch_norm"
    if isinstance(module, SoftMaxModule):
        return "softmax"
    if type(module) in ACTIVATION_NAMES:
        return ACTIVATION_NAMES[type(module)]
    raise JacobianError(f"no Jacobian for a {type(module).__name__}: pass a module of core.nn")


def _float64(module):
    """A float64 copy of ``module`` (parameters and batch-norm buffers cast), caches cleared."""
    kind(module)  # a module of core.nn, or JacobianError
    m = copy.deepcopy(module)
    m.clear_cache()
    for key in getattr(m, "params", {}):
        m.params[key] = np.asarray(m.params[key], dtype=np.float64)
    if isinstance(m, BatchNormModule):
        m.running_mean, m.running_var = (np.asarray(v, dtype=np.float64) for v in (m.running_mean, m.running_var))
    return m


def _forward(module, X):
    """``module``'s output for a batch X (N, D); batch norm's running estimates are left alone.

    Huge weights (a diverged run's) may overflow to ∞ here, silently: the Jacobian that needs the output checks it.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return module.forward(X, update_stats=False) if isinstance(module, BatchNormModule) else module.forward(X)


def _sizes(module, D):
    """(D_in, D_out) of ``module`` for inputs of D features; element-wise modules keep the size."""
    if isinstance(module, LinearModule):
        return module.params["weight"].shape[::-1]
    if isinstance(module, BatchNormModule):
        return (module.params["weight"].size,) * 2
    return D, D


def _batch_input(module, x):
    """x as the (N, D) batch the module's forward takes, checked; raises JacobianError."""
    x = np.asarray(x, dtype=np.float64)
    batched = isinstance(module, BatchNormModule) and module.training
    if batched and (x.ndim != 2 or x.shape[0] < 2):
        raise JacobianError(
            f"batch norm in training mode needs a batch X of shape (N, D) with N ≥ 2, got shape {x.shape}; "
            "for one sample put the module in eval mode"
        )
    if not batched and x.ndim != 1:
        raise JacobianError(f"one sample x of shape (D,) expected, got shape {x.shape}")
    X = x if batched else x[None]  # (N, D)
    D_in, D_out = _sizes(module, X.shape[1])
    if X.shape[1] != D_in:
        raise JacobianError(f"this {kind(module).replace('_', ' ')} module takes {D_in} features, got {X.shape[1]}")
    if not np.isfinite(X).all():
        raise JacobianError("the input has NaN or infinite entries: the Jacobian is undefined there")
    if X.shape[0] ** 2 * D_in * D_out > MAX_ENTRIES:
        raise JacobianError(f"a Jacobian of more than {MAX_ENTRIES:,} entries: use a smaller layer or batch")
    return X


def module_jacobian(module, x, method="analytic"):
    """∂out/∂in of ``module`` at x, in float64.

    Args:
        module: a module of ``core.nn`` (LinearModule, an activation, SoftMaxModule, BatchNormModule).
        x: one sample (D_in,); for a BatchNormModule in training mode a batch X (N, D), N ≥ 2.
        method: "analytic", "autograd" or "finite_difference".

    Shape:
        (D_out, D_in); for batch norm in training mode (N·D, N·D), row n·D + j, column m·D + i.
    """
    if method not in METHODS:
        raise JacobianError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    m = _float64(module)
    X = _batch_input(m, x)
    if method == "analytic":
        J = _analytic(m, X)
    elif method == "autograd":
        J = _autograd(m, X)
    else:
        with np.errstate(invalid="ignore"):  # ∞ − ∞ where the output overflows: reported below
            J = numerical_jacobian(lambda v: _forward(m, v.reshape(X.shape)).ravel(), X.ravel())
    if not np.isfinite(J).all():
        raise JacobianError(
            f"the Jacobian overflows (entries NaN or ∞): this {kind(m).replace('_', ' ')} module's "
            "weights are too large"
        )
    return J


def _analytic(m, X):
    """The hand-derived Jacobian of module ``m`` (float64) at X (N, D), N = 1 except for batch norm in training."""
    out = _forward(m, X)  # fills the caches the formulas read
    k = kind(m)
    if k == "linear":
        return m.params["weight"].copy()  # ∂(x Wᵀ + b)/∂x = W: (H, D)
    if k == "softmax":
        p = out[0]  # (C,)
        return np.diag(p) - np.outer(p, p)  # ∂p_k/∂z_j = p_k (1[k = j] − p_j): (C, C)
    if k == "batch_norm":
        scale = m.params["weight"] * m.inv_std  # γ_j / √(σ_j² + ε): (D,)
        if not m.training:
            return np.diag(scale)  # μ and σ² are the running estimates: constants
        N, D = X.shape
        x_hat = m.x_hat  # (N, D)
        # per feature j: ∂y[n, j]/∂X[m, j] = γ_j/√(σ_j² + ε) (1[n = m] − 1/N − x̂[n, j] x̂[m, j] / N): (D, N, N)
        per_feature = scale[:, None, None] * (np.eye(N) - 1.0 / N - np.einsum("nj,mj->jnm", x_hat, x_hat) / N)
        return np.einsum("jnm,ji->njmi", per_feature, np.eye(D)).reshape(N * D, N * D)  # 0 across features
    # element-wise f: the diagonal f′(z), read from the module's own backward with dout = 1
    return np.diag(m.backward(np.ones_like(X))[0])  # (D, D)


def _torch_function(m):
    """The torch equivalent of module ``m`` with the same parameters (float64): X (N, D) → (N, D_out)."""
    import torch
    import torch.nn.functional as F

    p = {key: torch.from_numpy(v) for key, v in getattr(m, "params", {}).items()}
    k = kind(m)
    if k == "linear":
        return lambda X: F.linear(X, p["weight"], p.get("bias"))
    if k == "softmax":
        return lambda X: torch.softmax(X, dim=1)
    if k == "batch_norm":
        stats = (None, None) if m.training else (torch.from_numpy(m.running_mean), torch.from_numpy(m.running_var))
        return lambda X: F.batch_norm(X, *stats, p["weight"], p["bias"], training=m.training, eps=m.eps)
    return {
        "elu": lambda X: F.elu(X, alpha=m.alpha),
        "relu": F.relu,
        "leaky_relu": lambda X: F.leaky_relu(X, m.negative_slope),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "identity": lambda X: X,
    }[k]


def _autograd(m, X):
    """``torch.func.jacrev`` of the torch equivalent at X (N, D), flattened to (N·D_out, N·D)."""
    import torch

    f = _torch_function(m)
    J = torch.func.jacrev(lambda v: f(v.reshape(X.shape)).reshape(-1))(torch.from_numpy(X.ravel().copy()))
    return J.numpy()


@dataclass(frozen=True)
class VJPCheck:
    """What backward computes, dx = dout · J, from J and from ``backward`` (which never builds J)."""

    dout: np.ndarray  # (D_out,) or (N·D,) the upstream gradient, flattened
    from_jacobian: np.ndarray  # dout · J: (D_in,) or (N·D,)
    from_backward: np.ndarray  # module.backward(dout), flattened like from_jacobian

    @property
    def max_abs_diff(self):
        return float(np.max(np.abs(self.from_jacobian - self.from_backward)))


def vjp_check(module, x, dout=None, seed=0):
    """dout · J (J from the formula) next to ``module.backward(dout)``, float64.

    ``dout`` has the module's output shape ((D_out,), or (N, D) for batch norm in training mode); by default
    a seeded standard-normal draw. Returns a ``VJPCheck``.
    """
    m = _float64(module)
    X = _batch_input(m, x)
    J = _analytic(m, X)  # also runs the forward whose caches backward reads
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(J.shape[0])
    dout = np.asarray(dout, dtype=np.float64)
    if dout.size != J.shape[0]:
        raise JacobianError(f"dout needs {J.shape[0]} entries (one per output), got {dout.size}")
    dx = m.backward(dout.reshape(X.shape[0], -1))  # (N, D_out) as backward takes it
    return VJPCheck(dout.ravel(), dout.ravel() @ J, np.ravel(dx))


# ---- the modules of a network, one layer at a time ----


@dataclass
class ModuleJacobians:
    """One module of an MLP at a sample (or a batch): its Jacobian by each method, and the VJP check."""

    layer: int  # l, 1 … L
    kind: str  # "linear", "batch_norm", "softmax" or an activation's name
    module: object  # a float64 copy, in the mode it was differentiated in
    x: np.ndarray  # what the module receives: (D_in,) or, batch norm in training mode, (N, D)
    jacobians: dict  # method → J (D_out, D_in)
    vjp: VJPCheck

    def differences(self):
        """Largest |J_a − J_b| of each pair of methods: columns pair ("formula vs autograd", …), max_abs_diff."""
        J, methods = self.jacobians, list(self.jacobians)
        rows = [
            {"pair": f"{METHOD_LABELS[a]} vs {METHOD_LABELS[b]}", "max_abs_diff": float(np.max(np.abs(J[a] - J[b])))}
            for i, a in enumerate(methods)
            for b in methods[i + 1 :]
        ]
        return pd.DataFrame(rows, columns=["pair", "max_abs_diff"])


def feature_major(J, N):
    """A batch Jacobian (N·D, N·D) in row-major order (n·D + j) reordered feature by feature (j·N + n).

    Batch norm's then shows as D blocks of N × N on the diagonal: each feature couples the samples, never features.
    """
    D = J.shape[0] // N
    order = np.arange(N * D).reshape(N, D).T.ravel()  # position j·N + n holds index n·D + j
    return J[np.ix_(order, order)]


def float64_copy(mlp, train=False):
    """A float64 copy of ``mlp`` (same weights and activation), in training or eval mode; ``mlp`` is untouched."""
    net = MLP.from_weights(mlp.get_weights(), mlp.activation)
    return net.train() if train else net.eval()


def module_inputs(mlp, X, train=False):
    """[(layer, module, input), …] for every module of a float64 copy of ``mlp`` in forward order, softmax last.

    X is one sample (D,) in eval mode (each input then (D_in,)), or a batch (N, D) with ``train`` (batch
    norm normalizing with the batch; each input (N, D_in)).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != (2 if train else 1) or X.shape[-1] != mlp.widths[0]:
        wanted = f"a batch (N, {mlp.widths[0]})" if train else f"one sample of {mlp.widths[0]} features"
        raise JacobianError(f"this network takes {wanted}, got shape {X.shape}")
    net = float64_copy(mlp, train)
    a, out = (X if train else X[None]), []
    for l in range(net.n_layers):
        for module in net.block_modules(l):
            out.append((l + 1, module, a if train else a[0]))
            a = _forward(module, a)  # may overflow: the next module's Jacobian refuses a non-finite input
    return out + [(net.n_layers, net.softmax, a if train else a[0])]


def _three_ways(layer, module, x, methods):
    return ModuleJacobians(
        layer, kind(module), module, x, {k: module_jacobian(module, x, k) for k in methods}, vjp_check(module, x)
    )


def layer_jacobians(mlp, x, layer, methods=METHODS):
    """The ``ModuleJacobians`` of every module of layer ``layer`` (1 … L) at sample x (D,), eval mode.

    Hidden layer: Linear, [batch norm,] activation. Output layer: Linear, softmax.
    """
    if not 1 <= layer <= mlp.n_layers:
        raise JacobianError(f"layer must be 1 … {mlp.n_layers}, got {layer}")
    return [_three_ways(l, m, a, methods) for l, m, a in module_inputs(mlp, x) if l == layer]


def batchnorm_jacobians(mlp, X, layer, methods=METHODS):
    """``ModuleJacobians`` of batch norm in hidden layer ``layer`` in training mode, for the batch X (N, D)."""
    if not mlp.batch_norm or not 1 <= layer < mlp.n_layers:
        raise JacobianError(f"layer {layer} has no batch norm")
    for l, m, a in module_inputs(mlp, X, train=True):
        if l == layer and kind(m) == "batch_norm":
            return _three_ways(l, m, a, methods)

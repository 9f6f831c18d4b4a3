"""The Hessian of a real network's loss: Hessian-vector products and what Lanczos reads from them.

``LossHessian`` is the mean cross-entropy of an MLP on one batch as a function of its flat
parameter vector θ, with H v = ∇²L(θ) v by double backward in torch. From those products alone:
the top eigenvalues and the most negative one (``scipy.sparse.linalg.eigsh`` on a ``LinearOperator``),
the trace (Hutchinson's estimator) and the eigenvalue density (stochastic Lanczos quadrature),
the quantities PyHessian (Yao et al. 2020) reports, without ever forming the P × P matrix. ``full_hessian`` forms
it (``torch.autograd.functional.hessian``) for a small net, to check against or to read every eigenvalue.

This module imports torch (about two seconds): import it only where the Hessian is needed.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from core.nn.mlp import MLP
from core.nn.torch_mlp import TorchMLP
from core.nn.weights import WeightsError, check, flatten, n_parameters, parameter_names, unflatten, widths
from core.threads import one_thread

MAX_PARAMETERS = 200_000  # P: beyond it one Hessian-vector product takes too long for a page
MAX_SAMPLES = 2_000  # N, the batch the loss is averaged over
MAX_FULL_PARAMETERS = 2_000  # the full Hessian: P² numbers, built by P products at once
MAX_LANCZOS_STEPS = 100  # the density keeps every Lanczos vector: steps × P numbers
# Eigenvalues within ±ZERO · max |λ| count as ≈ 0 in the negative share: a few dozen Lanczos steps cannot
# tell the sign of smaller ones (they lump into one node near 0). Measured on 64 → 20 → 10 ELU nets on digits
# (1,510 parameters, 7 epochs): 60 steps × 3 runs give 0.10–0.15 against the exact 0.11–0.20 at 1 %, but
# 0.14–0.66 against 0.26–0.36 at 10⁻⁶.
ZERO = 1e-2


class HessianError(ValueError):
    """A Hessian that cannot be computed from these inputs; the message is one line a user can act on."""


class HessianLimitError(HessianError):
    """The network or the batch is larger than this module's limits."""


@dataclass
class Eigenpairs:
    """Eigenvalues (k,) in descending order, unit eigenvectors (P, k) as columns, and the H v products used."""

    values: np.ndarray
    vectors: np.ndarray
    n_hvp: int


@dataclass
class TraceEstimate:
    """Hutchinson's estimate of tr(H), its standard error, and the m samples zᵀHz (m,) it averages."""

    value: float
    stderr: float
    samples: np.ndarray

    @property
    def n_hvp(self):
        return len(self.samples)


@dataclass
class Density:
    """The eigenvalue density of H by stochastic Lanczos quadrature.

    frame: long form, columns eigenvalue, density (∫ density d eigenvalue = 1).
    nodes: the quadrature, columns run, eigenvalue, weight (each run's weights sum to 1).
    fraction_negative: the share of eigenvalues clearly below 0 (below −ZERO · max |λ|), read from the nodes.
    sigma: the width of the Gaussian that broadens each node.  n_hvp: H v products used.
    """

    frame: pd.DataFrame
    nodes: pd.DataFrame
    fraction_negative: float
    sigma: float
    n_hvp: int


class LossHessian:
    """L(θ) = −(1/N) Σₙ log softmax(f(xₙ; θ))[yₙ] on one batch, and its Hessian-vector products.

    θ concatenates the trained parameters in the order of the common dict form (W1, b1,
    [gamma1, beta1,] …, WL, bL), each flattened row-major. Batch-norm running statistics are
    buffers, not part of θ, and play no part: with batch norm the loss is taken in training mode,
    every hidden layer normalized with this batch's own mean and variance, as in a training step.

    H v = ∇(∇L(θ)ᵀ v) (Pearlmutter's trick): the gradient is built once with ``create_graph=True``,
    and each product is one more backward pass through that graph. The forward pass is the
    project's PyTorch twin (``core.nn.torch_mlp.TorchMLP``) called with θ's views as its parameters.

    Args:
        weights: the common dict form (``MLP.get_weights()``, ``Trainer.weights()``).
        activation: a name from ``core.nn.activations.ACTIVATIONS``.
        X: (N, D) inputs.  y: (N,) integer labels in 0 … C − 1.
        dtype: "float64" (default: products exact to round-off) or "float32".

    Shape:
        θ, v, H v: (P,), P = ``size``.  ``full()``: (P, P).

    Raises ``HessianLimitError`` before allocating anything when P > MAX_PARAMETERS or
    N > MAX_SAMPLES, and ``HessianError`` for inputs that do not fit or are not finite.
    """

    def __init__(self, weights, activation, X, y, dtype="float64"):
        X, y = _checked(weights, X, y)
        self.names = parameter_names(weights)
        self.shapes = [np.shape(weights[k]) for k in self.names]
        try:
            model = TorchMLP.from_weights(weights, activation, dtype=dtype)
        except (ValueError, RuntimeError) as e:  # an unknown activation, names or shapes that do not fit
            raise HessianError(f"this network cannot be built: {str(e).splitlines()[0]}") from None
        torch.func.replace_all_batch_norm_modules_(model)  # always the batch's statistics, buffers untouched
        self.model = model.train()
        module_name = {id(p): name for name, p in model.named_parameters()}
        arrays = dict(model.named_arrays())
        self._module_names = [module_name[id(arrays[k])] for k in self.names]
        self.theta = torch.cat([arrays[k].detach().reshape(-1) for k in self.names])  # (P,)
        self.X = torch.from_numpy(X).to(model.dtype)  # (N, D)
        self.y = torch.from_numpy(y)  # (N,)
        self.n_hvp = 0
        self._graph = None

    @property
    def size(self):
        """P, the number of trained parameters."""
        return self.theta.numel()

    def loss_at(self, theta):
        """L at a flat parameter vector (a tensor, (P,)); differentiable."""
        params, offset = {}, 0
        for name, shape in zip(self._module_names, self.shapes):
            n = math.prod(shape)
            params[name] = theta[offset : offset + n].view(shape)
            offset += n
        return F.cross_entropy(torch.func.functional_call(self.model, params, (self.X,)), self.y)

    def loss(self, v=None):
        """L(θ + v) as a float; v (P,) NumPy, or None for L(θ)."""
        with torch.no_grad():
            theta = self.theta if v is None else self.theta + torch.as_tensor(v, dtype=self.theta.dtype)
            return float(self.loss_at(theta))

    def gradient(self):
        """∇L(θ), (P,) NumPy."""
        return self._gradient_graph()[1].detach().numpy().copy()

    def _gradient_graph(self):
        """(θ as a leaf, ∇L(θ) with its graph kept for the second backward), built once."""
        if self._graph is None:
            theta = self.theta.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(self.loss_at(theta), theta, create_graph=True)
            self._graph = (theta, g)
        return self._graph

    def hvp(self, v):
        """H v for v (P,) NumPy: one backward through the gradient's graph. Returns (P,) float64."""
        theta, g = self._gradient_graph()
        v = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).reshape(-1), dtype=theta.dtype)
        (Hv,) = torch.autograd.grad(g, theta, grad_outputs=v, retain_graph=True)  # ∇(gᵀv), v held constant
        self.n_hvp += 1
        Hv = Hv.detach().numpy().astype(np.float64)
        if not np.all(np.isfinite(Hv)):  # finite weights whose loss overflows: ARPACK would fail obscurely on it
            raise HessianError("H v is NaN or ∞ at these weights: the loss overflows (the run diverged); reset it")
        return Hv

    def operator(self):
        """H as a ``scipy.sparse.linalg.LinearOperator`` (symmetric; every product counted in ``n_hvp``)."""
        return LinearOperator((self.size, self.size), matvec=self.hvp, rmatvec=self.hvp, dtype=np.float64)

    def full(self):
        """The whole Hessian (P, P), float64 NumPy, for a small net (P ≤ MAX_FULL_PARAMETERS).

        ``torch.autograd.functional.hessian`` (vectorized): it differentiates ``loss_at`` twice afresh,
        not through ``hvp``'s kept graph. Not ``torch.func.hessian``: with batch norm in training mode
        its (γ, W) block is wrong in torch 2.13 (off by 8.3 on a 2 × 3 example; finite differences agree
        with autograd).
        """
        P, N = self.size, len(self.y)
        if P > MAX_FULL_PARAMETERS:
            raise HessianLimitError(
                f"the full Hessian is built for at most {MAX_FULL_PARAMETERS:,} parameters, this network has {P:,}: "
                "use top_eigenvalues (Lanczos) instead"
            )
        if P * N * sum(s[0] for s in self.shapes if len(s) == 2) > 4e8:  # P products through every layer at once
            raise HessianLimitError(
                f"the full Hessian of {P:,} parameters on {N:,} samples needs too much memory: use fewer samples"
            )
        H = torch.autograd.functional.hessian(self.loss_at, self.theta.detach(), vectorize=True)
        return H.detach().numpy().astype(np.float64)

    def unflatten(self, v):
        """A flat vector (P,) as the common dict form {name: array} of the parameters."""
        return unflatten(v, self.names, self.shapes)

    def flatten(self, arrays):
        """The common dict form (parameters; buffers ignored) as one flat vector (P,) in θ's order."""
        return flatten(arrays, self.names)


def _checked(weights, X, y):
    """(X float64 (N, D), y int64 (N,)) after checking sizes, shapes and finiteness; nothing allocated yet."""
    try:
        check(weights)
    except WeightsError as e:
        raise HessianError(f"these are not the weights of one MLP: {e}") from None
    P = n_parameters(weights)
    if P > MAX_PARAMETERS:
        raise HessianLimitError(
            f"the Hessian is computed for at most {MAX_PARAMETERS:,} parameters, this network "
            f"has {P:,}: use fewer or narrower hidden layers"
        )
    X, y = np.asarray(X), np.asarray(y)
    N = len(y) if y.ndim == 1 else -1
    if N > MAX_SAMPLES:
        raise HessianLimitError(f"the Hessian's batch has at most {MAX_SAMPLES:,} samples, got {N:,}")
    D, C = widths(weights)[0], widths(weights)[-1]
    if X.ndim != 2 or X.shape != (N, D):
        raise HessianError(f"X must be (N, {D}) and y (N,) for this network, got X {X.shape} and y {y.shape}")
    if N < 1:
        raise HessianError("the Hessian's batch needs at least 1 sample")
    if N < 2 and "gamma1" in weights:
        raise HessianError("the Hessian's batch needs at least 2 samples with batch norm")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= C:
        raise HessianError(f"labels y must be whole numbers from 0 to {C - 1}")
    if not (all(np.isfinite(v).all() for v in weights.values()) and np.isfinite(X).all()):
        raise HessianError("the weights or inputs are not finite (NaN or ∞): the run diverged; reset it")
    return X.astype(np.float64), y.astype(np.int64)


def loss_hessian(net, X, y, activation=None, dtype="float64"):
    """A ``LossHessian`` from a NumPy ``MLP`` (its weights and activation) or from weights + ``activation``."""
    if isinstance(net, MLP):
        return LossHessian(net.get_weights(), activation or net.activation, X, y, dtype)
    if activation is None:
        raise HessianError("with a dict of weights, name the activation too")
    return LossHessian(net, activation, X, y, dtype)


@functools.cache
def _v0(P, seed):
    return np.random.default_rng(seed).standard_normal(P)


def _extreme_eigenpairs(H, k, which, tol, seed):
    if not 1 <= k < H.size:
        raise HessianError(f"k must be from 1 to {H.size - 1} (one less than the number of parameters), got {k}")
    start = H.n_hvp
    try:
        with one_thread():
            values, vectors = eigsh(H.operator(), k=k, which=which, tol=tol, v0=_v0(H.size, seed))
    except ArpackNoConvergence:
        raise HessianError(f"Lanczos did not converge to tol={tol:g}: use a larger tolerance") from None
    order = np.argsort(values)[::-1]
    return Eigenpairs(values[order], vectors[:, order], H.n_hvp - start)


def top_eigenvalues(H, k=5, tol=1e-6, seed=0):
    """The k largest eigenvalues of H (descending) and their eigenvectors, by implicitly restarted Lanczos.

    ``eigsh(which="LA")`` (ARPACK) on ``H.operator()``, started from a seeded Gaussian vector.
    ``tol``: relative accuracy of the eigenvalues (0: machine precision). Returns ``Eigenpairs``.
    """
    return _extreme_eigenpairs(H, k, "LA", tol, seed)


def most_negative_eigenvalue(H, tol=1e-6, seed=0):
    """The smallest (most negative) eigenvalue of H and its eigenvector, by Lanczos (``which="SA"``).

    Negative: L curves down along that direction, so the point is not a minimum. Returns ``Eigenpairs`` (k = 1).
    """
    return _extreme_eigenpairs(H, 1, "SA", tol, seed)


def hutchinson_trace(H, n_probes=100, seed=0):
    """tr(H) ≈ (1/m) Σᵢ zᵢᵀ H zᵢ with Rademacher probes zᵢ ∈ {−1, +1}ᴾ (Hutchinson 1990).

    Unbiased because E[z zᵀ] = I; the standard error is the samples' standard deviation / √m.
    Returns a ``TraceEstimate`` (m = ``n_probes`` ≥ 2 products).
    """
    if n_probes < 2:
        raise HessianError(f"Hutchinson's estimator needs at least 2 probes for a standard error, got {n_probes}")
    rng = np.random.default_rng(seed)
    with one_thread():
        samples = np.array([z @ H.hvp(z) for z in (rng.integers(0, 2, H.size) * 2.0 - 1.0 for _ in range(n_probes))])
    return TraceEstimate(float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(n_probes)), samples)


def lanczos_tridiagonal(hvp, v, n_steps):
    """m ≤ n_steps steps of Lanczos from v with full reorthogonalization: the tridiagonal T = Vᵀ H V.

    Returns (alpha (m,), beta (m − 1,)): T's diagonal and off-diagonal. Stops early when the
    Krylov space is exhausted (β ≈ 0: every eigenvalue v touches has been found).
    """
    V = np.zeros((n_steps, v.size))  # (m, P) the orthonormal Lanczos vectors
    V[0] = v / np.linalg.norm(v)
    alpha, beta = [], []
    for j in range(n_steps):
        w = hvp(V[j])  # (P,)
        alpha.append(V[j] @ w)
        w -= V[: j + 1].T @ (V[: j + 1] @ w)  # against every earlier vector (covers α v_j + β v_{j−1})
        w -= V[: j + 1].T @ (V[: j + 1] @ w)  # twice is enough (Kahan–Parlett)
        b = np.linalg.norm(w)
        if j == n_steps - 1 or b <= 1e-10 * max(abs(a) for a in alpha):
            break
        beta.append(b)
        V[j + 1] = w / b
    return np.array(alpha), np.array(beta)


def spectral_density(H, n_runs=3, n_steps=60, seed=0, n_grid=400):
    """The eigenvalue density φ(t) = (1/P) Σᵢ δ(t − λᵢ) of H by stochastic Lanczos quadrature.

    For each of ``n_runs`` seeded Gaussian start vectors v, ``n_steps`` Lanczos steps give a
    tridiagonal T = Q diag(θ) Qᵀ; its eigenvalues θⱼ are the quadrature's nodes and τⱼ = Q₀ⱼ²
    their weights: vᵀ g(H) v / vᵀv ≈ Σⱼ τⱼ g(θⱼ) (Ubaru, Chen & Saad 2017; Ghorbani et al. 2019).
    Each node is broadened by a Gaussian of variance σ² = 10⁻⁵ · max(1, λ_max − λ_min), as PyHessian does,
    and the runs are averaged. The grid adds 7 points within ±3σ of every node to ``n_grid`` even ones.

    Returns a ``Density``; its fraction of negative eigenvalues is Σ τⱼ over nodes below −ZERO · max |θ|.
    """
    if n_runs < 1 or not 2 <= n_steps <= MAX_LANCZOS_STEPS:
        raise HessianError(f"the density needs at least 1 run and 2 to {MAX_LANCZOS_STEPS} Lanczos steps")
    rng, start, rows = np.random.default_rng(seed), H.n_hvp, []
    with one_thread():
        for run in range(n_runs):
            alpha, beta = lanczos_tridiagonal(H.hvp, rng.standard_normal(H.size), min(n_steps, H.size))
            theta, Q = eigh_tridiagonal(alpha, beta)
            rows += [{"run": run, "eigenvalue": t, "weight": q * q} for t, q in zip(theta, Q[0])]
    nodes = pd.DataFrame(rows, columns=["run", "eigenvalue", "weight"])
    lam, tau = nodes["eigenvalue"].to_numpy(), nodes["weight"].to_numpy() / n_runs
    sigma = math.sqrt(1e-5 * max(1.0, lam.max() - lam.min()))
    grid = np.unique(
        np.concatenate(
            [
                np.linspace(lam.min() - 5 * sigma, lam.max() + 5 * sigma, n_grid),
                (lam[:, None] + sigma * np.linspace(-3, 3, 7)).ravel(),
            ]
        )
    )
    gauss = np.exp(-0.5 * ((grid[:, None] - lam[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    frame = pd.DataFrame({"eigenvalue": grid, "density": gauss @ tau})  # (G, nodes) @ (nodes,)
    negative = float(tau[lam < -ZERO * np.abs(lam).max()].sum())
    return Density(frame, nodes, negative, sigma, H.n_hvp - start)


def hessian_top_eigenvalues(net, X, y, k=5, *, activation=None, tol=1e-6, seed=0):
    """The k largest eigenvalues and eigenvectors of the loss's Hessian at ``net``'s current weights.

    ``net``: a NumPy ``MLP`` or weights in the common dict form (then ``activation`` too).
    X (N, D), y (N,): the batch the mean cross-entropy is taken over. Returns ``Eigenpairs``.
    """
    return top_eigenvalues(loss_hessian(net, X, y, activation), k, tol, seed)


def full_hessian(net, X, y, *, activation=None):
    """The whole Hessian (P, P) of the loss at ``net``'s weights, for a small net (P ≤ MAX_FULL_PARAMETERS)."""
    return loss_hessian(net, X, y, activation).full()


def hessian_eigenvalues(net, X, y, *, activation=None):
    """Every eigenvalue (P,) of the loss's Hessian, ascending (``numpy.linalg.eigvalsh`` of ``full_hessian``).

    At a strict local minimum all are > 0; at a saddle some are < 0.
    """
    return np.linalg.eigvalsh(full_hessian(net, X, y, activation=activation))

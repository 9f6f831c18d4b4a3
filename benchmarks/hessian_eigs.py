"""Top-5 Hessian eigenvalues of the course network: Lanczos (ours) vs power iteration vs a plain HVP, in one run.

The work: MNIST-shaped random data (1,000 × 784, 10 classes, seeded) → Linear 128 → ELU → Linear 10,
mean cross-entropy, at the seeded initial weights (101,770 parameters), float64. Three ways to the
top 5 eigenvalues of its Hessian:
  - ours: ``core.analysis.curvature.hessian.top_eigenvalues``: ``eigsh`` on H v products that reuse one
    gradient graph, with one thread for torch and OpenBLAS (``core.threads.one_thread``);
  - plain: ``eigsh`` on the textbook double-backward H v (forward, gradient with
    ``create_graph=True``, then ∇(gᵀv), every product from scratch), same thread pools;
  - power iteration with deflation as PyHessian's ``hessian.eigenvalues`` does it (≤ 100 products per
    eigenvalue, stop when the Rayleigh quotient changes by less than tol relatively), on our products.
The same tolerance goes to every method; each error is against ``eigsh`` with tol = 0.

    python benchmarks/hessian_eigs.py               # tol 1e-3 (PyHessian's default) and 1e-6, 3 repetitions
    python benchmarks/hessian_eigs.py --reps 5 --tols 1e-3 --out figures.json
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis.curvature.hessian import LossHessian, top_eigenvalues  # noqa: E402
from core.threads import one_thread  # noqa: E402
from core.training.backends import initial_weights  # noqa: E402

K = 5


def mnist_shaped(n=1_000, D=784, C=10, seed=0):
    """Random standardized inputs and labels with MNIST's shapes."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)), rng.integers(0, C, n)


def plain_eigsh(H, tol):
    """eigsh on the textbook H v: every product recomputes the loss and its gradient graph."""
    import torch
    from scipy.sparse.linalg import LinearOperator, eigsh

    count = [0]

    def hvp(v):
        count[0] += 1
        theta = H.theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(H.loss_at(theta), theta, create_graph=True)
        (Hv,) = torch.autograd.grad(g @ torch.from_numpy(np.ascontiguousarray(v).reshape(-1)), theta)
        return Hv.numpy()

    v0 = np.random.default_rng(0).standard_normal(H.size)
    values = eigsh(
        LinearOperator((H.size, H.size), matvec=hvp, dtype=np.float64),
        k=K,
        which="LA",
        tol=tol,
        v0=v0,
        return_eigenvectors=False,
    )
    return np.sort(values)[::-1], count[0]


def power_iteration(H, tol, max_iter=100, seed=0):
    """PyHessian's method: power iteration on H, deflated against the eigenvectors found so far."""
    rng, values, vectors, start = np.random.default_rng(seed), [], [], H.n_hvp
    for _ in range(K):
        v, value = rng.standard_normal(H.size), None
        for _ in range(max_iter):
            for u in vectors:  # deflation: v ⟂ every eigenvector found
                v -= (u @ v) * u
            v /= np.linalg.norm(v)
            Hv = H.hvp(v)
            new = float(v @ Hv)  # Rayleigh quotient
            v = Hv
            if value is not None and abs(value - new) / (abs(value) + 1e-6) < tol:
                value = new
                break
            value = new
        values.append(value)
        vectors.append(v / np.linalg.norm(v))
    return np.array(values), H.n_hvp - start


def run(method, X, y, weights, tol):
    """(values (K,), products, seconds) of one method from scratch (the Hessian object built inside)."""
    t0 = time.perf_counter()
    H = LossHessian(weights, "elu", X, y)
    if method == "ours":
        eig = top_eigenvalues(H, K, tol)
        values, n = eig.values, eig.n_hvp
    elif method == "plain, default threads":
        values, n = plain_eigsh(H, tol)
    else:
        with one_thread():
            values, n = plain_eigsh(H, tol) if method == "plain" else power_iteration(H, tol)
    return values, n, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--tols", type=float, nargs="+", default=[1e-3, 1e-6])
    p.add_argument("--out", help="also write the figures to this JSON file")
    args = p.parse_args()
    import scipy
    import torch

    try:
        from threadpoolctl import __version__ as threadpoolctl
    except ImportError:
        threadpoolctl = "not installed: OpenBLAS keeps its threads"
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, torch "
        f"{torch.__version__}, threadpoolctl {threadpoolctl}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}"
    )
    X, y = mnist_shaped()
    weights = initial_weights(784, (128,), 10, seed=0)
    reference = top_eigenvalues(LossHessian(weights, "elu", X, y), K, tol=0).values
    print(
        f"784 → 128 ELU → 10 at initialization, 101,770 parameters, 1,000 samples; top {K} eigenvalues "
        f"{np.array2string(reference, precision=5)}; median of {args.reps} (min)\n"
    )
    methods = ["ours", "plain", "power iteration", "plain, default threads"]
    print(
        f"{'tol':>6} {'method':24} {'H v':>5} {'seconds':>15} {'× ours time':>11} {'× ours H v':>10} "
        f"{'max rel. error':>14}"
    )
    figures = []
    for tol in args.tols:
        ours = None
        for method in methods:
            runs = [run(method, X, y, weights, tol) for _ in range(args.reps)]
            seconds = [r[2] for r in runs]
            values, n = runs[0][0], runs[0][1]
            row = {
                "tol": tol,
                "method": method,
                "hvp": n,
                "seconds": float(np.median(seconds)),
                "min_seconds": min(seconds),
                "max_rel_error": float(np.max(np.abs(values - reference) / reference)),
            }
            ours = ours or row
            figures.append(row)
            print(
                f"{tol:>6.0e} {method:24} {n:>5} {row['seconds']:>8.3f} ({min(seconds):.3f}) "
                f"{row['seconds'] / ours['seconds']:>11.2f} {n / ours['hvp']:>10.2f} {row['max_rel_error']:>14.1e}"
            )
    if args.out:
        Path(args.out).write_text(json.dumps({"reference": reference.tolist(), "figures": figures}, indent=1))


if __name__ == "__main__":
    main()

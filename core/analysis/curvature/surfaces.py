"""Surfaces z = f(x, y) for the saddle-point view: exact gradients and Hessians, critical points, grids.

Four built-in surfaces carry hand-derived derivatives, each written right under its function. A
surface the user types is read safely by ``core.analysis.curvature.surface_parser.parse_surface`` and
differentiated symbolically; user text is never evaluated as Python.

Every critical point (∇f = 0) is classified by the signs of the Hessian's eigenvalues λ₁ ≤ λ₂:
both positive a minimum, both negative a maximum, one of each a saddle, and any |λ| ≤ tol degenerate
(the second-order test cannot decide: the monkey saddle's Hessian is 0 at the origin). A critical
point on a kink of the surface (|x| at x = 0) is "not smooth": there is no Hessian there, and the one
of the smooth pieces on either side says nothing about it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("minimum", "maximum", "saddle", "degenerate", "not smooth")
MAX_CRITICAL = 40  # critical points listed at most


class SurfaceError(ValueError):
    """A typed surface that cannot be used; the message names the reason in one line."""


@dataclass(frozen=True)
class Surface:
    """A surface z = f(x, y) with its exact first and second derivatives.

    Args:
        key: short name ("saddle", "monkey", "double_well", "camel", or "typed").
        title: the formula in plain text, e.g. "x² − y²".
        tex: the formula in LaTeX.
        f: (x, y) → f(x, y), NumPy broadcasting.
        df: (x, y) → (∂f/∂x, ∂f/∂y).
        d2f: (x, y) → (∂²f/∂x², ∂²f/∂x∂y, ∂²f/∂y²); entries may be Python numbers.
        xlim, ylim: the plotted rectangle.
        kinks: functions (x, y) → g whose zero set is where f is not smooth (the arguments of abs).

    Shape:
        x, y: broadcastable to S; value: S, gradient: S + (2,), hessian: S + (2, 2).
    """

    key: str
    title: str
    tex: str
    f: object
    df: object
    d2f: object
    xlim: tuple = (-2.0, 2.0)
    ylim: tuple = (-2.0, 2.0)
    kinks: tuple = ()

    def on_kink(self, x, y, tol=1e-9):
        """True where (x, y) lies on a kink of the surface (|g(x, y)| ≤ tol for one of ``kinks``)."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        out = np.zeros(x.shape, dtype=bool)
        with np.errstate(all="ignore"):
            for g in self.kinks:
                out |= np.abs(np.broadcast_to(g(x, y), x.shape)) <= tol
        return out

    def value(self, x, y):
        """f(x, y), broadcast to the shape of x and y."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return np.broadcast_to(self.f(x, y), x.shape).astype(np.float64)

    def gradient(self, x, y):
        """∇f = (∂f/∂x, ∂f/∂y), stacked on a last axis of 2."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return np.stack([np.broadcast_to(d, x.shape) for d in self.df(x, y)], axis=-1).astype(np.float64)

    def hessian(self, x, y):
        """H = [[f_xx, f_xy], [f_xy, f_yy]], stacked on two last axes of 2 × 2."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        fxx, fxy, fyy = (np.broadcast_to(d, x.shape) for d in self.d2f(x, y))
        return np.stack([np.stack([fxx, fxy], -1), np.stack([fxy, fyy], -1)], -2).astype(np.float64)


# x² − y²: a saddle at the origin, up along x, down along y.
def _saddle(x, y):
    return x**2 - y**2


def _saddle_d(x, y):
    return 2 * x, -2 * y  # ∂f/∂x = 2x, ∂f/∂y = −2y


def _saddle_d2(x, y):
    return 2.0, 0.0, -2.0  # f_xx, f_xy, f_yy: constant, so the origin is a saddle with λ = −2, 2


# Monkey saddle x³ − 3xy²: three valleys around the origin, where the Hessian is 0.
def _monkey(x, y):
    return x**3 - 3 * x * y**2


def _monkey_d(x, y):
    return 3 * x**2 - 3 * y**2, -6 * x * y  # ∂f/∂x, ∂f/∂y


def _monkey_d2(x, y):
    return 6 * x, -6 * y, -6 * x  # f_xx, f_xy, f_yy: all 0 at the origin


# Double well x⁴ − 2x² + y²: minima at (±1, 0), a saddle at the origin between them.
def _double_well(x, y):
    return x**4 - 2 * x**2 + y**2


def _double_well_d(x, y):
    return 4 * x**3 - 4 * x, 2 * y  # ∂f/∂x, ∂f/∂y


def _double_well_d2(x, y):
    return 12 * x**2 - 4, 0.0, 2.0  # f_xx, f_xy, f_yy: f_xx = −4 at the saddle, 8 at the minima


# Six-hump camel (4 − 2.1x² + x⁴/3)x² + xy + (4y² − 4)y²: six minima, two maxima, seven saddles.
def _camel(x, y):
    return 4 * x**2 - 2.1 * x**4 + x**6 / 3 + x * y - 4 * y**2 + 4 * y**4


def _camel_d(x, y):
    return 8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3  # ∂f/∂x, ∂f/∂y


def _camel_d2(x, y):
    return 8 - 25.2 * x**2 + 10 * x**4, 1.0, -8 + 48 * y**2  # f_xx, f_xy, f_yy


SURFACES = {
    "saddle": Surface("saddle", "x² − y²", "x^2 - y^2", _saddle, _saddle_d, _saddle_d2),
    "monkey": Surface(
        "monkey", "x³ − 3xy² (monkey saddle)", "x^3 - 3xy^2", _monkey, _monkey_d, _monkey_d2, (-1.5, 1.5), (-1.5, 1.5)
    ),
    "double_well": Surface(
        "double_well",
        "x⁴ − 2x² + y² (double well)",
        "x^4 - 2x^2 + y^2",
        _double_well,
        _double_well_d,
        _double_well_d2,
        (-1.8, 1.8),
        (-1.5, 1.5),
    ),
    "camel": Surface(
        "camel",
        "six-hump camel",
        r"\left(4 - 2.1x^2 + \tfrac{x^4}{3}\right)x^2 + xy + (4y^2 - 4)y^2",
        _camel,
        _camel_d,
        _camel_d2,
        (-2.0, 2.0),
        (-1.2, 1.2),
    ),
}


def eigen(H):
    """Eigenvalues λ₁ ≤ λ₂ and unit eigenvectors (columns) of a symmetric 2 × 2 matrix.

    Each eigenvector's sign is fixed so that its largest component is positive: a reproducible
    picture (an eigenvector is only defined up to sign).
    """
    lam, V = np.linalg.eigh(np.asarray(H, dtype=np.float64))  # (2,), (2, 2)
    big = np.argmax(np.abs(V), axis=0)
    return lam, V * np.sign(V[big, [0, 1]])


def eigenvalues(H):
    """Eigenvalues λ₁ ≤ λ₂ of stacked symmetric 2 × 2 matrices H (…, 2, 2) → (…, 2); NaN where H is not finite."""
    H = np.asarray(H, dtype=np.float64)
    lam = np.full(H.shape[:-1], np.nan)
    ok = np.isfinite(H).all(axis=(-2, -1))
    lam[ok] = np.linalg.eigvalsh(H[ok])
    return lam


def classify(lam, tol=1e-6):
    """ "minimum", "maximum", "saddle" or "degenerate" from the eigenvalues (…, 2) of a Hessian."""
    lam = np.asarray(lam, dtype=np.float64)
    lo, hi = lam[..., 0], lam[..., 1]
    kind = np.where(lo > tol, "minimum", np.where(hi < -tol, "maximum", "saddle"))
    return np.where(~(np.abs(lam).min(axis=-1) > tol), "degenerate", kind)  # NaN: undecided, so degenerate


def critical_points(surface, n_starts=15, iterations=100, max_points=MAX_CRITICAL):
    """Critical points ∇f = 0 inside the plotted rectangle, found by Newton's method and classified.

    Newton steps p ← p − H⁺∇f (H⁺ the pseudo-inverse, safe where H is singular) run from an
    n_starts × n_starts grid of starts, all at once; the converged points are de-duplicated.
    Newton converges only linearly at a degenerate point, so it runs a fixed ``iterations`` steps.

    Returns:
        DataFrame (x, y, value, eig1, eig2, kind), eig1 ≤ eig2 the Hessian's eigenvalues, sorted by
        value; at most ``max_points`` rows (a surface with a line of critical points has infinitely many).
    """
    (x0, x1), (y0, y1) = surface.xlim, surface.ylim
    gx, gy = np.meshgrid(np.linspace(x0, x1, n_starts), np.linspace(y0, y1, n_starts))
    P = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (S, 2)
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            H = surface.hessian(P[:, 0], P[:, 1])  # (S, 2, 2)
            g = surface.gradient(P[:, 0], P[:, 1])  # (S, 2)
            ok = np.isfinite(H).all(axis=(1, 2)) & np.isfinite(g).all(axis=1)
            step = np.zeros_like(P)
            step[ok] = np.einsum("sij,sj->si", np.linalg.pinv(H[ok]), g[ok])
            P = np.where(ok[:, None], P - step, np.nan)
        g = surface.gradient(P[:, 0], P[:, 1])
    span = max(x1 - x0, y1 - y0)
    scale = 1.0 + np.nanmax(np.abs(surface.gradient(gx, gy)))  # how steep the surface is
    inside = (P[:, 0] >= x0 - 1e-9) & (P[:, 0] <= x1 + 1e-9) & (P[:, 1] >= y0 - 1e-9) & (P[:, 1] <= y1 + 1e-9)
    found = P[np.isfinite(P).all(axis=1) & inside & (np.linalg.norm(g, axis=1) <= 1e-9 * scale)]
    points = []
    for p in found:
        if all(np.linalg.norm(p - q) > 1e-5 * span for q in points):
            points.append(p)
    if not points:
        return pd.DataFrame(columns=["x", "y", "value", "eig1", "eig2", "kind"])
    P = np.array(points)  # (K, 2)
    P = np.where(np.abs(P) < 1e-12 * span, 0.0, P)  # round-off away from 0 (and −0) reads as 0
    lam = eigenvalues(surface.hessian(P[:, 0], P[:, 1]))  # (K, 2) ascending
    tol = 1e-6 * max(1.0, float(np.nanmax(np.abs(lam), initial=0.0)))
    kind = np.where(surface.on_kink(P[:, 0], P[:, 1], 1e-9 * span), "not smooth", classify(lam, tol))
    frame = pd.DataFrame(
        {
            "x": P[:, 0],
            "y": P[:, 1],
            "value": surface.value(P[:, 0], P[:, 1]),
            "eig1": lam[:, 0],
            "eig2": lam[:, 1],
            "kind": kind,
        }
    )
    return frame.sort_values(["value", "x", "y"]).head(max_points).reset_index(drop=True)


def surface_grid(surface, n=60):
    """The surface on an n × n grid of cells for a heatmap: long form (x, y, x_end, y_end, value).

    (x, y) is a cell's lower-left corner and the value is taken at its centre.
    """
    xs, ys = np.linspace(*surface.xlim, n + 1), np.linspace(*surface.ylim, n + 1)
    X, Y = np.meshgrid(xs[:-1], ys[:-1])  # (n, n) lower-left corners
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    with np.errstate(all="ignore"):
        Z = surface.value(X + dx / 2, Y + dy / 2)  # (n, n)
    return pd.DataFrame(
        {"x": X.ravel(), "y": Y.ravel(), "x_end": (X + dx).ravel(), "y_end": (Y + dy).ravel(), "value": Z.ravel()}
    )

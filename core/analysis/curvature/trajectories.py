"""Optimizer paths on a 2-D surface, and the gradient-descent step near a critical point in numbers.

The optimizers are those of ``core.nn.optim`` (the same ``update(w, dw, state)`` functions that
train the networks), run on w = (x, y) with dw = ∇f(x, y). "SGD + noise" is plain gradient descent
on a noisy gradient ∇f + σε, ε ~ N(0, I) from a seeded generator: a stand-in for mini-batch noise.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.curvature.surfaces import eigen, eigenvalues
from core.nn.optim import make_optimizer

OPTIMIZERS = {
    "gd": "Gradient descent",
    "momentum": "Momentum",
    "nesterov": "Nesterov",
    "adam": "Adam",
    "noisy": "SGD + noise",
}
UPDATE = {"gd": "sgd", "noisy": "sgd", "momentum": "momentum", "nesterov": "nesterov", "adam": "adam"}
MAX_STEPS = 2000


class TrajectoryError(ValueError):
    """Settings a trajectory cannot run with; the message says which and why in one line."""


@dataclass(frozen=True)
class Paths:
    """Optimizer paths from one start.

    ``frame``: one row per optimizer and step (optimizer, step, x, y, loss, eig1, eig2), eig1 ≤ eig2
    the Hessian's eigenvalues at (x, y); step 0 is the start.
    ``summary``: one row per optimizer (optimizer, steps, x, y, loss, diverged, message), the last point.
    """

    frame: pd.DataFrame
    summary: pd.DataFrame


def _check(surface, start, optimizers, lr, steps, noise):
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        raise TrajectoryError(f"unknown optimizer {unknown[0]!r}: choose from {', '.join(OPTIMIZERS)}")
    if not (np.isfinite(lr) and 0 < lr <= 10):
        raise TrajectoryError(f"the learning rate must be between 0 and 10, got {lr}")
    if not (float(steps).is_integer() and 1 <= steps <= MAX_STEPS):
        raise TrajectoryError(f"the number of steps must be a whole number from 1 to {MAX_STEPS}, got {steps}")
    if not (np.isfinite(noise) and 0 <= noise <= 100):
        raise TrajectoryError(f"the noise level σ must be between 0 and 100, got {noise}")
    if not np.isfinite(start).all():
        raise TrajectoryError(f"the start point must be finite, got {tuple(start)}")


def trajectory(surface, start, optimizer, lr, steps, noise=0.0, seed=0, momentum=0.9, bound=None):
    """The path w₀ = start, w_{t+1} = update(w_t, ∇f(w_t)) of one optimizer on ``surface``.

    Args:
        optimizer: a key of ``OPTIMIZERS``; "noisy" adds σ·ε to every gradient (σ = ``noise``).
        bound: the path stops (diverged) when |x| or |y| exceeds it or a value is not finite;
            10 × the plotted rectangle's largest coordinate by default.

    Returns:
        (points (T + 1, 2), message): message is "" unless the path stopped early, then it says why.
    """
    update, state = make_optimizer(UPDATE[optimizer], lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    bound = bound or 10 * max(map(abs, (*surface.xlim, *surface.ylim)))
    w = np.array(start, dtype=np.float64)  # (2,)
    points, start_loss = [w.copy()], float(surface.value(*w))
    name = OPTIMIZERS[optimizer]
    with np.errstate(all="ignore"):
        for t in range(1, int(steps) + 1):
            dw = surface.gradient(*w)  # ∇f(w): (2,)
            if optimizer == "noisy":
                dw = dw + noise * rng.standard_normal(2)
            w, state = update(w, dw, state)
            loss = float(surface.value(*w))
            if not (np.isfinite(w).all() and np.isfinite(loss)):
                return np.array(points), (
                    f"{name} overflowed at step {t} (a value is no longer finite): the path "
                    "stops there. Lower the learning rate."
                )
            if np.abs(w).max() > bound:
                where = f"{name} left the region |x|, |y| ≤ {bound:g} at step {t} (loss {loss:.4g})"
                if loss < start_loss:
                    return np.array(points), f"{where}: the surface keeps falling that way. The path stops there."
                return np.array(points), (
                    f"{where}: it diverged, the learning rate is too large for the curvature "
                    "(|1 − ηλ| > 1). Lower the learning rate."
                )
            points.append(w.copy())
    return np.array(points), ""


def trajectories(surface, start, optimizers, lr, steps, noise=0.1, seed=0, momentum=0.9):
    """Paths of several optimizers from one start, in long form with the Hessian's eigenvalues along them.

    Every optimizer gets the same ``seed``; only "noisy" draws from it. Returns ``Paths``.
    """
    start = np.asarray(start, dtype=np.float64)
    _check(surface, start, optimizers, lr, steps, noise)
    frames, rows = [], []
    for name in optimizers:
        P, message = trajectory(surface, start, name, lr, steps, noise, seed, momentum)  # (T + 1, 2)
        lam = eigenvalues(surface.hessian(P[:, 0], P[:, 1]))  # (T + 1, 2)
        loss = surface.value(P[:, 0], P[:, 1])
        frames.append(
            pd.DataFrame(
                {
                    "optimizer": OPTIMIZERS[name],
                    "step": np.arange(len(P)),
                    "x": P[:, 0],
                    "y": P[:, 1],
                    "loss": loss,
                    "eig1": lam[:, 0],
                    "eig2": lam[:, 1],
                }
            )
        )
        rows.append(
            {
                "optimizer": OPTIMIZERS[name],
                "steps": len(P) - 1,
                "x": P[-1, 0],
                "y": P[-1, 1],
                "loss": loss[-1],
                "diverged": bool(message),
                "message": message,
            }
        )
    columns = ["optimizer", "step", "x", "y", "loss", "eig1", "eig2"]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return Paths(frame, pd.DataFrame(rows, columns=["optimizer", "steps", "x", "y", "loss", "diverged", "message"]))


def gd_step_near(surface, center, point, lr):
    """One gradient-descent step from ``point`` seen in the eigenbasis of the Hessian at ``center``.

    Near a critical point c, ∇f(p) ≈ H (p − c), so one step p' = p − η∇f(p) gives
    p' − c ≈ (I − ηH)(p − c). In the coordinates u = Vᵀ(p − c) along the unit eigenvectors vᵢ of H
    each direction moves on its own: uᵢ' = (1 − ηλᵢ) uᵢ, and after k steps (1 − ηλᵢ)ᵏ uᵢ.
    |1 − ηλ| < 1 shrinks uᵢ (the path approaches c along vᵢ); |1 − ηλ| > 1 grows it: escape along
    a direction of negative curvature (λ < 0), or divergence when ηλ > 2.

    Args:
        center: c, a critical point (x, y); point: p (x, y); lr: η.

    Returns:
        DataFrame with one row per direction (i = 1, 2; λ₁ ≤ λ₂): eigenvalue, vx, vy (vᵢ), factor
        (1 − ηλᵢ), coord (uᵢ), predicted ((1 − ηλᵢ)uᵢ) and actual (vᵢ·(p' − c) after one true GD
        step; equal to predicted on a quadratic surface).
    """
    c, p = np.asarray(center, dtype=np.float64), np.asarray(point, dtype=np.float64)  # (2,), (2,)
    lam, V = eigen(surface.hessian(*c))  # (2,), (2, 2) columns vᵢ
    p_next = p - lr * surface.gradient(*p)  # one true GD step
    u, u_next = V.T @ (p - c), V.T @ (p_next - c)  # (2,) coordinates in the eigenbasis
    factor = 1 - lr * lam
    return pd.DataFrame(
        {
            "direction": [1, 2],
            "eigenvalue": lam,
            "vx": V[0],
            "vy": V[1],
            "factor": factor,
            "coord": u,
            "predicted": factor * u,
            "actual": u_next,
        }
    )

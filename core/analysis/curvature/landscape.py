"""The loss around the current weights, and the Hessian's spectrum along a training run.

Directions live in the flat parameter space of a ``core.analysis.curvature.hessian.LossHessian``: the loss
is the same one (the mean cross-entropy of one batch, batch norm in training mode), so the curve
along the top eigenvector bends as its eigenvalue says. Random directions are filter-normalized
as in Li et al. 2018 ("Visualizing the loss landscape of neural nets"), so that a step of α = 1
moves every unit's incoming weights by as much as their own length, whatever the layer's scale.
"""

import numpy as np
import pandas as pd

from core.analysis.curvature.hessian import (
    HessianError,
    LossHessian,
    most_negative_eigenvalue,
    spectral_density,
    top_eigenvalues,
)
from core.nn.weights import BUFFERS
from core.threads import one_thread
from core.training.trainer import Trainer, TrainingDiverged


def filter_normalized_direction(weights, seed=0):
    """A random direction d, filter by filter as long as the weights (Li et al. 2018).

    For each weight matrix W (H_out, H_in), d ~ N(0, 1) of W's shape, and each row i (unit i's
    incoming weights: an MLP's "filter") is rescaled so that ‖dᵢ‖ = ‖Wᵢ‖:  dᵢ ← dᵢ ‖Wᵢ‖ / ‖dᵢ‖.
    Biases and batch norm's γ and β get d = 0 (the paper's default, ``--xignore biasbn``): they stay put.

    Returns {name: array} in the common dict form, parameters only (no running statistics).
    """
    rng = np.random.default_rng(seed)
    direction = {}
    for name, w in weights.items():
        if name.startswith(BUFFERS):
            continue
        w = np.asarray(w, dtype=np.float64)
        if not name.startswith("W"):
            direction[name] = np.zeros_like(w)
            continue
        d = rng.standard_normal(w.shape)  # (H_out, H_in)
        d *= np.linalg.norm(w, axis=1, keepdims=True) / np.linalg.norm(d, axis=1, keepdims=True)
        direction[name] = d
    return direction


def loss_along(H, directions, alphas):
    """L(θ + α d) for each direction d and step α, beside its second-order Taylor model.

    taylor = L(θ) + α ∇Lᵀd + ½ α² dᵀHd: a parabola whose curvature along d is dᵀHd
    (= λ for a unit eigenvector of eigenvalue λ).

    Args:
        H: a ``LossHessian`` (the loss, the batch and the current weights θ).
        directions: {name: flat direction (P,)} (eigenvectors, or ``H.flatten`` of a random one).
        alphas: the steps, in units of each direction's length.

    Returns a long DataFrame: direction, alpha, loss, taylor.
    """
    rows, L0, g = [], H.loss(), H.gradient()
    with one_thread():
        for name, d in directions.items():
            slope, curvature = g @ d, d @ H.hvp(d)
            for a in np.asarray(alphas, dtype=np.float64):
                taylor = L0 + a * slope + 0.5 * a * a * curvature
                rows.append({"direction": name, "alpha": a, "loss": H.loss(a * d), "taylor": taylor})
    return pd.DataFrame(rows, columns=["direction", "alpha", "loss", "taylor"])


def loss_plane(H, d1, d2, alphas, betas=None):
    """L(θ + α d₁ + β d₂) over a grid (the 2-D loss surface of Li et al. 2018).

    Args: H a ``LossHessian``; d1, d2 flat directions (P,); alphas (A,) and betas (B,) the steps
    (betas = alphas when None).  Returns a long DataFrame of A·B rows: alpha, beta, loss.
    """
    betas = alphas if betas is None else betas
    with one_thread():
        rows = [{"alpha": a, "beta": b, "loss": H.loss(a * d1 + b * d2)} for a in alphas for b in betas]
    return pd.DataFrame(rows, columns=["alpha", "beta", "loss"])


def spectrum_over_training(data, config, n_samples=256, n_runs=2, n_steps=40, tol=1e-4, seed=0, progress=None):
    """Train a run and measure the Hessian's spectrum before training and after every epoch.

    The run is ``Trainer(data, config)`` from its seeded initial weights, for ``config.epochs``
    epochs. The Hessian is always the one of the mean cross-entropy on the same batch: a seeded
    draw of ``n_samples`` training samples (all of them if fewer). At each measurement:
    the top eigenvalue and the most negative one (Lanczos, ``tol``), and the fraction of negative
    eigenvalues from the density (``n_runs`` × ``n_steps`` Lanczos steps).

    Args:
        data: a ``core.data.Dataset``; config: a ``core.training.config.TrainConfig``.
        progress: called as progress(done, total) after each of the epochs + 1 measurements.

    Returns a long DataFrame: epoch (0 = the initial weights), quantity ("top eigenvalue",
    "most negative eigenvalue", "fraction negative", "loss"), value. A run that diverges stops
    there, with the rows measured before it: its training step fails, or its Hessian is not
    finite. The weights before training must give a finite Hessian (``HessianError`` otherwise).
    """
    trainer = Trainer(data, config)
    n_train = len(data.y_train)
    idx = np.sort(np.random.default_rng(seed).choice(n_train, min(n_samples, n_train), replace=False))
    X, y = data.X_train[idx], data.y_train[idx]
    rows, total = [], config.epochs + 1
    for epoch in range(total):
        if epoch > 0:
            try:
                for _ in trainer.run_epoch():
                    pass
            except TrainingDiverged:
                break
        try:
            H = LossHessian(trainer.weights(), config.activation, X, y)
            measured = {
                "top eigenvalue": top_eigenvalues(H, 1, tol, seed).values[0],
                "most negative eigenvalue": most_negative_eigenvalue(H, tol, seed).values[0],
                "fraction negative": spectral_density(H, n_runs, n_steps, seed).fraction_negative,
                "loss": H.loss(),
            }
        except HessianError:
            if epoch == 0:
                raise
            break
        rows += [{"epoch": epoch, "quantity": q, "value": float(v)} for q, v in measured.items()]
        if progress is not None:
            progress(epoch + 1, total)
    return pd.DataFrame(rows, columns=["epoch", "quantity", "value"])

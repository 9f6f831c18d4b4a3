"""The vanishing-gradient experiment: per-layer gradient norms of deep nets, activation by activation.

In a deep sigmoid net every layer multiplies δ by W and by σ'(z) ≤ 1/4 on the way back, so the
first layer's gradient is orders of magnitude smaller than the last one's; ELU and ReLU have
f'(z) = 1 for z > 0 and, with Kaiming initialisation, keep the norms of about one size.
"""

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from core.training.config import TrainConfig
from core.training.trainer import Trainer, TrainingDiverged


def _first(data, n_train, n_other=1):
    """``data`` cut to its first n_train training samples (already shuffled) and n_other of the rest."""
    return replace(
        data,
        X_train=data.X_train[:n_train],
        y_train=data.y_train[:n_train],
        X_val=data.X_val[:n_other],
        y_val=data.y_val[:n_other],
        X_test=data.X_test[:n_other],
        y_test=data.y_test[:n_other],
    )


def gradient_norms_by_depth(
    data, activations=("sigmoid", "elu"), depth=8, width=32, steps=30, seed=0, lr=0.1, batch_size=64
):
    """Train a depth × width MLP per activation for a few SGD steps and record ‖∂L/∂W^l‖ at each.

    Every run starts from the same seeded Kaiming weights and sees the same mini-batches (the
    core ``Trainer`` with ``track_grad_norms``, float64, NumPy backend), so the activation is
    the only difference.  Only the first steps × batch_size training samples are used, which
    keeps it fast on MNIST too (well under a second for the defaults).

    Args:
        data: a ``core.data.Dataset``.
        activations: names from ``core.nn.activations.ACTIVATIONS``.
        depth, width: hidden layers and units per layer.
        steps: SGD steps per activation; lr, batch_size, seed as in ``TrainConfig``.

    Returns a long DataFrame: activation, layer (1 … depth + 1, the last is the output layer),
    step (1 … steps; fewer if a run diverged), grad_norm (Frobenius norm of ∂L/∂W^l).
    """
    n_train = min(len(data.y_train), steps * batch_size)
    small = _first(data, n_train)
    frames = []
    for activation in activations:
        epochs = min(500, math.ceil(steps / math.ceil(n_train / batch_size)))
        config = TrainConfig(
            hidden_dims=(width,) * depth,
            activation=activation,
            lr=lr,
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
            dtype="float64",
            track_grad_norms=True,
        )
        trainer = Trainer(small, config)
        try:
            for _ in range(steps):
                trainer.step()
        except TrainingDiverged:
            pass  # keep the steps taken so far
        frames.append(trainer.grad_norms().assign(activation=activation))
    return pd.concat(frames, ignore_index=True)[["activation", "layer", "step", "grad_norm"]]


def gradient_ratio_summary(norms, step=1):
    """How much smaller the first layer's gradient is than the last layer's, per activation.

    Args:
        norms: the DataFrame of ``gradient_norms_by_depth`` (or ``Trainer.grad_norms()`` with an
            ``activation`` column).
        step: the step to compare at (1: the initial weights, before any update).

    Returns a DataFrame: activation, first_norm (‖∂L/∂W^1‖), last_norm (‖∂L/∂W^L‖, the output
    layer), ratio = first_norm / last_norm (NaN when the last norm is 0 or the step is missing).
    """
    rows = []
    for activation, group in norms[norms["step"] == step].groupby("activation", sort=False):
        by_layer = group.sort_values("layer")["grad_norm"].to_numpy()
        first, last = by_layer[0], by_layer[-1]
        ratio = first / last if last > 0 else np.nan
        rows.append({"activation": activation, "first_norm": first, "last_norm": last, "ratio": ratio})
    return pd.DataFrame(rows, columns=["activation", "first_norm", "last_norm", "ratio"])

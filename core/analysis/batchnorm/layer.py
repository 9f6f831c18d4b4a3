"""One batch-norm layer up close: what it adds to the parameter count, where ∂L/∂γ and ∂L/∂β come from,
and why a sample's output depends on its batch in training mode but not in eval mode.

Layers count from 1, units from 0 (``core.analysis.text.notation.INDEX_CONVENTION``). Batch norm of hidden
layer l follows PyTorch (``core.nn.batchnorm``): y = γ x̂ + β with x̂ = (x − μ) / √(σ² + ε).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.nn.mlp import MLP


class LayerChoiceError(ValueError):
    """A layer, unit or sample that the network or batch does not have; one line a user can act on."""


def bn_parameter_count(n_inputs, hidden_dims, n_classes):
    """The trained numbers of every layer without and with batch norm, and the buffers batch norm adds.

    A hidden layer l of H units after H_prev inputs: the Linear keeps its H × H_prev weights; without batch
    norm it has H biases; with it the bias is left out (batch norm subtracts the batch mean, so a bias could
    not change anything) and batch norm trains γ and β (H each). Its running mean and variance (H each) are
    buffers: updated by forward passes in training mode, never by the gradient, so not parameters.
    The output layer has no batch norm.

    Returns a DataFrame, one row per layer (1-based) and a last "total" row: layer, units, weights,
    biases_without (H), trained_without (weights + biases), biases_with (0 for hidden layers), gamma, beta,
    trained_with (weights + biases_with + γ + β), buffers (running mean + running variance), added (trained_with
    − trained_without: H per hidden layer).
    """
    widths = [int(n_inputs), *[int(h) for h in hidden_dims], int(n_classes)]
    rows = []
    for l, (H_prev, H) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        hidden = l < len(widths) - 1
        row = {
            "layer": str(l),
            "units": H,
            "weights": H * H_prev,
            "biases_without": H,
            "biases_with": 0 if hidden else H,
            "gamma": H if hidden else 0,
            "beta": H if hidden else 0,
            "buffers": 2 * H if hidden else 0,
        }
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["trained_without"] = frame["weights"] + frame["biases_without"]
    frame["trained_with"] = frame["weights"] + frame["biases_with"] + frame["gamma"] + frame["beta"]
    frame["added"] = frame["trained_with"] - frame["trained_without"]
    total = frame.drop(columns="layer").sum().to_dict() | {"layer": "total"}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    cols = [
        "layer",
        "units",
        "weights",
        "biases_without",
        "trained_without",
        "biases_with",
        "gamma",
        "beta",
        "trained_with",
        "buffers",
        "added",
    ]
    return frame[cols]


def _bn_mlp(weights, activation):
    mlp = MLP.from_weights(weights, activation)
    if not mlp.batch_norm:
        raise LayerChoiceError("these weights have no batch norm (no gamma1, beta1): train a network with it")
    return mlp


def _check(value, lo, hi, what):
    """Refuse (LayerChoiceError) anything but a whole number from lo to hi."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise LayerChoiceError(f"{what} must be a whole number from {lo} to {hi}, got {value!r}")


@dataclass(frozen=True)
class GammaBetaSums:
    """∂L/∂β and ∂L/∂γ of one unit written out as sums over the batch, next to the backward's and autograd's."""

    layer: int  # hidden layer l (1-based)
    unit: int  # unit j (0-based)
    terms: pd.DataFrame  # n (0-based), dy = ∂L/∂yₙ, x_hat = x̂ₙ, dy_x_hat = ∂L/∂yₙ · x̂ₙ
    dbeta_sum: float  # Σₙ ∂L/∂yₙ
    dgamma_sum: float  # Σₙ ∂L/∂yₙ · x̂ₙ
    dbeta_backward: float  # mlp.norms[l − 1].grads["bias"][j]
    dgamma_backward: float  # mlp.norms[l − 1].grads["weight"][j]
    dbeta_autograd: float | None  # PyTorch's, or None when not asked for
    dgamma_autograd: float | None
    loss: float


def gamma_beta_sums(weights, activation, X, y, layer, unit, autograd=True):
    """∂L/∂β = Σₙ ∂L/∂yₙ and ∂L/∂γ = Σₙ ∂L/∂yₙ · x̂ₙ for unit j of hidden layer l on the batch (X, y).

    y = γ x̂ + β is batch norm's output; ∂y/∂β = 1 and ∂y/∂γ = x̂, and γ, β are shared by every sample of
    the batch, so their gradients sum over it. The per-sample terms come from the MLP's caches after one
    training-mode forward and backward (float64): ∂L/∂yₙ is ``bn_deltas``, x̂ₙ is batch norm's ``x_hat``.
    The running estimates are not touched (a copy of the weights is used).

    Args:
        weights: common dict form with batch norm; X: (N, D) with N ≥ 2; y: (N,).
        layer: hidden layer l, 1 … L − 1; unit: j, 0 … H_l − 1.
        autograd: also run PyTorch autograd from the same weights (imports torch).
    """
    mlp = _bn_mlp(weights, activation).train()
    X, y = np.atleast_2d(np.asarray(X, dtype=np.float64)), np.atleast_1d(np.asarray(y, dtype=np.int64))
    _check(layer, 1, len(mlp.norms), "the hidden layer")
    _check(unit, 0, mlp.widths[layer] - 1, f"the unit of layer {layer}")
    if len(y) < 2:
        raise LayerChoiceError("batch norm in training mode needs a batch of at least 2 samples")
    with np.errstate(all="ignore"):
        loss, _ = mlp.loss_and_backward(X, y)
    bn, j = mlp.norms[layer - 1], unit
    dy, x_hat = mlp.bn_deltas[layer - 1][:, j], bn.x_hat[:, j]  # (N,), (N,)
    terms = pd.DataFrame({"n": np.arange(len(y)), "dy": dy, "x_hat": x_hat, "dy_x_hat": dy * x_hat})
    torch_side = None
    if autograd:
        from core.analysis.traces.autograd_check import autograd_pass

        torch_side = autograd_pass(weights, activation, X, y, mode="train")["grads"]
    return GammaBetaSums(
        layer=layer,
        unit=j,
        terms=terms,
        dbeta_sum=float(dy.sum()),
        dgamma_sum=float((dy * x_hat).sum()),
        dbeta_backward=float(bn.grads["bias"][j]),
        dgamma_backward=float(bn.grads["weight"][j]),
        dbeta_autograd=None if torch_side is None else float(torch_side[f"beta{layer}"][j]),
        dgamma_autograd=None if torch_side is None else float(torch_side[f"gamma{layer}"][j]),
        loss=float(loss),
    )


@dataclass(frozen=True)
class BatchDependence:
    """One sample's batch-norm output inside two different batches, in training and in eval mode."""

    layer: int
    index: int  # the sample's row in X
    values: pd.DataFrame  # unit, mode ("train", "eval"), batch ("A", "B", "alone"), value
    train_gap: float  # max over units |output in A − output in B|, training mode: > 0
    eval_gap: float  # the same in eval mode: 0 (up to round-off), and equal to the sample alone

    def table(self, units=8):
        """The first ``units`` units as rows, a column per (mode, batch): "training mode, batch A", …"""
        shown = self.values[self.values["unit"] < units]
        wide = shown.pivot_table(index="unit", columns=["mode", "batch"], values="value", sort=False)
        wide.columns = [
            f"{'training' if m == 'train' else 'eval'} mode, {'alone' if b == 'alone' else 'batch ' + b}"
            for m, b in wide.columns
        ]
        return wide


def batch_dependence(weights, activation, X, index, batch_a, batch_b, layer=1):
    """Batch norm's output y⁽ˡ⁾ of sample ``index`` when it sits in batch A and when it sits in batch B.

    Training mode normalizes with the batch's own μ and σ², so the same sample gets different outputs;
    eval mode uses the running estimates, so its output is the same in any batch, and alone. The running
    estimates are not updated here.

    Args:
        weights: common dict form with batch norm; X: (M, D) the pool of samples.
        index: the sample's row in X; batch_a, batch_b: row indices of the other samples of each batch
            (the sample is added first if missing; each batch needs 2 samples at least).
        layer: hidden layer l whose batch-norm output is shown.
    """
    mlp = _bn_mlp(weights, activation)
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    _check(index, 0, len(X) - 1, "the sample")
    _check(layer, 1, len(mlp.norms), "the hidden layer")
    rows, out = [], {}
    for mode in ("train", "eval"):
        getattr(mlp, mode)()
        for name, batch in (("A", batch_a), ("B", batch_b), ("alone", [])):
            if name == "alone" and mode == "train":
                continue  # a batch of one has no variance
            idx = [index] + [int(i) for i in batch if int(i) != index]
            if mode == "train" and len(idx) < 2:
                raise LayerChoiceError("each batch needs at least one sample besides the one followed")
            a = X[idx]  # (B, D)
            for l in range(layer):  # up to batch norm of ``layer``, running estimates left alone
                _, u, a = mlp.block_forward(l, a, update_stats=False)
            out[mode, name] = u[0]  # (H,) the followed sample is row 0
            rows += [{"unit": j, "mode": mode, "batch": name, "value": float(v)} for j, v in enumerate(u[0])]
    gap = lambda mode: float(np.max(np.abs(out[mode, "A"] - out[mode, "B"])))  # noqa: E731
    return BatchDependence(layer, int(index), pd.DataFrame(rows), gap("train"), gap("eval"))

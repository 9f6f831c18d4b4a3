"""The input-output Jacobian of a whole network, ∂output/∂x (C, D) at one sample, and its singular values.

By the chain rule it is the product of the module Jacobians (``core.analysis.jacobians.modules``), the last first:
    J = J_softmax · J⁽ᴸ⁾ · … · J⁽¹⁾  of the probabilities p,  or  J = J⁽ᴸ⁾ · … · J⁽¹⁾  of the logits z⁽ᴸ⁾,
where J⁽ˡ⁾ is the product of layer l's Linear, [batch norm (eval mode),] and activation. Its singular values say
how strongly the output reacts to a small input step in each direction: a deep sigmoid net's collapse (σ′ ≤ ¼ at
every layer) is the vanishing gradient seen from the input side. Row k on an image's grid is class k's saliency map.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.jacobians.modules import METHODS, JacobianError, float64_copy, kind, module_inputs, module_jacobian
from core.nn.gradcheck import numerical_jacobian
from core.nn.mlp import MLP

OUTPUTS = ("probs", "logits")


@dataclass
class NetworkJacobian:
    """∂(output)/∂x of the whole network at one sample, eval mode."""

    jacobian: np.ndarray  # (C, D)
    singular_values: np.ndarray  # (min(C, D),) largest first
    factors: list  # [(layer, kind, J)] the module Jacobians, forward order ("analytic" only; else empty)
    output: str  # "probs" or "logits"


def network_jacobian(mlp, x, output="probs", method="analytic"):
    """The input-output Jacobian of ``mlp`` at x (D,) in eval mode, float64, and its singular values.

    "analytic" builds it by the chain rule, J = J_softmax · J_L · … · J_1 (``module_jacobian`` of every module,
    the last first; without softmax for ``output="logits"``); "autograd" differentiates the whole torch twin
    (``TorchMLP``) with ``torch.func.jacrev``; "finite_difference" perturbs each input of the NumPy MLP.

    Shape: x (D,) → jacobian (C, D), singular_values (min(C, D),).
    """
    if output not in OUTPUTS:
        raise JacobianError(f"unknown output {output!r}: choose probs or logits")
    if method not in METHODS:
        raise JacobianError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    modules = module_inputs(mlp, x)[: None if output == "probs" else -1]
    factors = []
    if method == "analytic":
        J = np.eye(mlp.widths[0])
        for l, m, a in modules:
            factors.append((l, kind(m), module_jacobian(m, a)))
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
                J = factors[-1][2] @ J  # chain rule: (D_out, D_in) @ (D_in, D)
    elif method == "autograd":
        J = _network_autograd(mlp, modules[0][2], output)
    else:
        net = float64_copy(mlp)
        f = net.forward if output == "probs" else net.logits
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            J = numerical_jacobian(lambda v: f(v[None])[0], modules[0][2])
    if not np.isfinite(J).all():
        raise JacobianError("the Jacobian overflows (entries NaN or ∞): the network's weights are too large")
    return NetworkJacobian(J, np.linalg.svd(J, compute_uv=False), factors, output)


def _network_autograd(mlp, x, output):
    import torch

    from core.nn.torch_mlp import TorchMLP

    net = TorchMLP.from_weights(mlp.get_weights(), mlp.activation).eval()
    f = (lambda v: torch.softmax(net(v[None]), dim=1)[0]) if output == "probs" else (lambda v: net(v[None])[0])
    return torch.func.jacrev(f)(torch.from_numpy(np.array(x))).detach().numpy()


def singular_value_frame(jacobians):
    """Long form of the singular values of {label: NetworkJacobian}: columns label, k (from 0), singular_value."""
    rows = [
        {"label": label, "k": k, "singular_value": float(s)}
        for label, nj in jacobians.items()
        for k, s in enumerate(nj.singular_values)
    ]
    return pd.DataFrame(rows, columns=["label", "k", "singular_value"])


def spectrum_by_architecture(x, n_classes, activations, depths, width, seed, output="logits"):
    """Singular values of the input-output Jacobian at x of freshly initialized nets, one per activation × depth.

    Every net of a depth starts from the same seeded Kaiming weights (``initial_weights``): only the activation
    differs. Long form: columns activation, depth, k, singular_value.
    """
    from core.training.backends import initial_weights

    frames = []
    for depth in depths:
        weights = initial_weights(len(x), (width,) * depth, n_classes, seed)
        spectra = {a: network_jacobian(MLP.from_weights(weights, a), x, output) for a in activations}
        frames.append(singular_value_frame(spectra).rename(columns={"label": "activation"}).assign(depth=depth))
    return pd.concat(frames, ignore_index=True)[["activation", "depth", "k", "singular_value"]]


def saliency_frame(J, image_shape, class_names):
    """Each class's row of J (C, D) on the image's grid: columns class, row, col, value.

    For a colour image (3, H, W) each pixel shows the channel entry of largest |value|, sign kept.
    """
    C = J.shape[0]
    maps = J.reshape(C, *image_shape)  # (C, H, W) or (C, 3, H, W)
    if maps.ndim == 4:
        pick = np.abs(maps).argmax(axis=1)[:, None]  # (C, 1, H, W)
        maps = np.take_along_axis(maps, pick, axis=1)[:, 0]  # (C, H, W)
    k, r, c = np.meshgrid(np.arange(C), np.arange(maps.shape[1]), np.arange(maps.shape[2]), indexing="ij")
    return pd.DataFrame(
        {"class": np.asarray(class_names)[k.ravel()], "row": r.ravel(), "col": c.ravel(), "value": maps.ravel()}
    )

"""The PyTorch twin of ``core.numpy_mlp.MLP``: same layers, autograd instead of hand gradients.

Import this module only when torch is needed: ``import torch`` costs about two seconds.
Weights copy both ways (``load_numpy_weights`` / ``numpy_weights``) in the shared layout
[(W (out, in), b (out,)), …], so both models can start from identical parameters.
"""

import numpy as np
import torch
from torch import nn

TORCH_ACTIVATIONS = {
    "elu": lambda: nn.ELU(alpha=1.0),
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def default_device():
    """CUDA when available, CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchMLP(nn.Module):
    """Linear → activation → … → Linear; ``forward`` returns the logits (N, C).

    Softmax is left to the loss (``F.cross_entropy``), as is usual in PyTorch; the NumPy MLP's
    ``forward`` returns probabilities, its ``logits`` the same numbers as this ``forward``.
    """

    def __init__(self, n_inputs, n_hidden, n_classes, activation="elu", dtype="float64", device=None):
        super().__init__()
        if activation not in TORCH_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(TORCH_ACTIVATIONS)}")
        widths = [int(n_inputs), *[int(h) for h in n_hidden], int(n_classes)]
        modules = []
        for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                modules.append(TORCH_ACTIVATIONS[activation]())
            modules.append(nn.Linear(d_in, d_out))
        self.net = nn.Sequential(*modules)
        self.linears = [m for m in self.net if isinstance(m, nn.Linear)]
        self.to(device=device or default_device(), dtype=TORCH_DTYPES[str(dtype)])

    @property
    def device(self):
        return self.linears[0].weight.device

    @property
    def dtype(self):
        return self.linears[0].weight.dtype

    def forward(self, x):
        """x: (N, D) → logits (N, C)."""
        return self.net(x)

    def forward_all(self, x):
        """Every z_l and a_l, kept in the graph with ``retain_grad`` so δ_l = ∂L/∂z_l can be read.

        Returns (zs, activations): zs[l] (N, H_l), the last the logits; activations[0] = x.
        """
        zs, acts, a = [], [x], x
        for m in self.net:
            a = m(a)
            if isinstance(m, nn.Linear):
                a.retain_grad()
                zs.append(a)
            else:
                acts.append(a)
        return zs, acts

    @torch.no_grad()
    def load_numpy_weights(self, weights):
        """Copy [(W, b), …] from NumPy (W: (out, in), the nn.Linear layout) into the model."""
        if len(weights) != len(self.linears):
            raise ValueError(f"expected {len(self.linears)} layers of weights, got {len(weights)}")
        for lin, (W, b) in zip(self.linears, weights):
            lin.weight.copy_(torch.as_tensor(np.asarray(W)))
            lin.bias.copy_(torch.as_tensor(np.asarray(b)))
        return self

    def numpy_weights(self):
        """[(W, b), …] as NumPy copies, W: (out, in)."""
        return [
            (lin.weight.detach().cpu().numpy().copy(), lin.bias.detach().cpu().numpy().copy()) for lin in self.linears
        ]

    def numpy_grads(self):
        """[(dW, db), …] from the last ``backward`` as NumPy copies."""
        return [
            (lin.weight.grad.detach().cpu().numpy().copy(), lin.bias.grad.detach().cpu().numpy().copy())
            for lin in self.linears
        ]


def make_torch_optimizer(name, params, lr, weight_decay=0.0, momentum=0.9):
    """The torch.optim optimizer matching ``core.optim.make_optimizer(name, …)``."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=(name == "nesterov"), weight_decay=weight_decay
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")

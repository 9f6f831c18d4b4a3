"""The PyTorch twin of ``core.nn.mlp.MLP``: same layers, autograd instead of hand gradients.

Import this module only when torch is needed: ``import torch`` costs about two seconds.
Weights copy both ways (``load_numpy_weights`` / ``numpy_weights``) in the common dict form of
``core.nn.mlp`` (W1, b1, [gamma1, beta1, running_mean1, running_var1,] …), so both models can
start from identical parameters and buffers.
"""

import contextlib

import numpy as np
import torch
from torch import nn

from core.nn.weights import check, has_batch_norm, widths

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
    """Linear → [BatchNorm1d] → activation → … → Linear; ``forward`` returns the logits (N, C).

    Softmax is left to the loss (``F.cross_entropy``), as is usual in PyTorch; the NumPy MLP's
    ``forward`` returns probabilities, its ``logits`` the same numbers as this ``forward``.
    ``blocks[l]`` is hidden layer l + 1 as an ``nn.Sequential`` (Linear, [BatchNorm1d], f), the
    last block the output Linear: the unit gradient checkpointing recomputes.
    """

    def __init__(self, n_inputs, n_hidden, n_classes, activation="elu", dtype="float64", device=None, batch_norm=False):
        super().__init__()
        if activation not in TORCH_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(TORCH_ACTIVATIONS)}")
        widths = [int(n_inputs), *[int(h) for h in n_hidden], int(n_classes)]
        blocks = []
        for d_in, d_out in zip(widths[:-2], widths[1:-1]):
            norm = [nn.BatchNorm1d(d_out, eps=1e-5, momentum=0.1)] if batch_norm else []
            linear = nn.Linear(d_in, d_out, bias=not batch_norm)  # no bias before batch norm (core.nn.mlp.MLP)
            blocks.append(nn.Sequential(linear, *norm, TORCH_ACTIVATIONS[activation]()))
        blocks.append(nn.Sequential(nn.Linear(widths[-2], widths[-1])))
        self.blocks = nn.Sequential(*blocks)
        self.batch_norm = bool(batch_norm)
        self.linears = [m for m in self.modules() if isinstance(m, nn.Linear)]
        self.norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm1d)]
        self.to(device=device or default_device(), dtype=TORCH_DTYPES[str(dtype)])

    @property
    def device(self):
        return self.linears[0].weight.device

    @property
    def dtype(self):
        return self.linears[0].weight.dtype

    def forward(self, x, checkpoint_every=None):
        """x: (N, D) → logits (N, C).

        With ``checkpoint_every`` = k (or "sqrt", k = ⌈√L⌉) and gradients enabled, each segment of
        k blocks runs under ``torch.utils.checkpoint.checkpoint``: only its input is saved, and it
        is recomputed during backward. The gradients are the same; batch norm's running estimates
        are updated once (the recomputation runs with momentum 0, which leaves them unchanged).
        """
        if checkpoint_every is None:
            return self.blocks(x)
        from torch.utils.checkpoint import checkpoint

        from core.nn.checkpoint import checkpoint_interval, segments

        L = len(self.blocks)
        k = checkpoint_interval(checkpoint_every, L)  # a bad k is refused with or without gradients
        if not torch.is_grad_enabled():
            return self.blocks(x)
        for start, end in segments(L, k):
            x = checkpoint(self.blocks[start:end], x, use_reentrant=False, context_fn=self._recompute_context)
        return x

    def _recompute_context(self):
        """(context of the first forward, context of the recomputation) for ``checkpoint``."""
        return contextlib.nullcontext(), self._running_stats_frozen()

    @contextlib.contextmanager
    def _running_stats_frozen(self):
        momenta = [bn.momentum for bn in self.norms]
        counts = [bn.num_batches_tracked.clone() for bn in self.norms]  # a training forward adds 1 to it
        for bn in self.norms:
            bn.momentum = 0.0  # running ← 1·running + 0·batch
        try:
            yield
        finally:
            for bn, m, n in zip(self.norms, momenta, counts):
                bn.momentum = m
                bn.num_batches_tracked.copy_(n)

    def forward_all(self, x):
        """Every z and a, kept in the graph with ``retain_grad`` so δ = ∂L/∂z can be read.

        Returns (zs, bn_outs, activations): zs[l-1] = z⁽ˡ⁾ (N, H_l), the last the logits;
        bn_outs[l-1] batch norm's output (empty without batch norm); activations[0] = x.
        """
        zs, bn_outs, acts, a = [], [], [x], x
        for block in self.blocks:
            for m in block:
                a = m(a)
                if isinstance(m, (nn.Linear, nn.BatchNorm1d)):
                    a.retain_grad()
                    (zs if isinstance(m, nn.Linear) else bn_outs).append(a)
            if block is not self.blocks[-1]:
                acts.append(a)
        return zs, bn_outs, acts

    def named_arrays(self):
        """[(common name, tensor), …]: parameters then buffers, in the order of ``core.nn.mlp``."""
        out = []
        for l, lin in enumerate(self.linears, start=1):
            out += [(f"W{l}", lin.weight)] + ([(f"b{l}", lin.bias)] if lin.bias is not None else [])
            if l <= len(self.norms):
                bn = self.norms[l - 1]
                out += [
                    (f"gamma{l}", bn.weight),
                    (f"beta{l}", bn.bias),
                    (f"running_mean{l}", bn.running_mean),
                    (f"running_var{l}", bn.running_var),
                ]
        return out

    @classmethod
    def from_weights(cls, weights, activation, dtype="float64", device="cpu"):
        """A TorchMLP with the architecture and values of ``weights`` (``core.nn.weights``' dict form)."""
        w = widths(check(weights))
        model = cls(w[0], w[1:-1], w[-1], activation, dtype=dtype, device=device, batch_norm=has_batch_norm(weights))
        return model.load_numpy_weights(weights)

    @torch.no_grad()
    def load_numpy_weights(self, weights):
        """Copy the common dict form from NumPy into the model (names and shapes must match)."""
        arrays = dict(self.named_arrays())
        if set(weights) != set(arrays):
            missing, extra = sorted(set(arrays) - set(weights)), sorted(set(weights) - set(arrays))
            raise ValueError(
                f"weights do not fit this network: missing {missing or 'none'}, unexpected {extra or 'none'}"
            )
        for name, tensor in arrays.items():
            tensor.copy_(torch.as_tensor(np.asarray(weights[name])))
        return self

    def numpy_weights(self):
        """Every parameter and buffer as NumPy copies, in the common dict form."""
        return {name: t.detach().cpu().numpy().copy() for name, t in self.named_arrays()}

    def numpy_grads(self):
        """{name: gradient} of every parameter from the last ``backward``, as NumPy copies."""
        return {name: t.grad.detach().cpu().numpy().copy() for name, t in self.named_arrays() if t.requires_grad}


def make_torch_optimizer(name, params, lr, weight_decay=0.0, momentum=0.9):
    """The torch.optim optimizer matching ``core.nn.optim.make_optimizer(name, …)``."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=(name == "nesterov"), weight_decay=weight_decay
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")

"""One trainable-model interface over the two backends, so training code never branches.

Both backends build their MLP from the same NumPy-drawn initial weights (the common dict form of
``core.nn.mlp``), take the same mini-batches, and report losses and gradients as Python floats
and NumPy arrays. Training steps run in training mode (batch norm uses the batch); predictions
run in eval mode (batch norm uses its running estimates).
"""

import numpy as np

from core.nn.losses import log_softmax
from core.nn.mlp import MLP
from core.nn.optim import make_optimizer


class _Backend:
    """What both backends share: probabilities from their ``predict_logits``."""

    def predict_proba(self, x):
        """Class probabilities softmax(z⁽ᴸ⁾), (N, C), computed from the logits without overflow."""
        return np.exp(log_softmax(self.predict_logits(x)))


class NumpyBackend(_Backend):
    """The hand-derived MLP with explicit-state optimizers from ``core.nn.optim``."""

    name = "numpy"

    def __init__(self, n_inputs, n_classes, config, weights):
        self.mlp = MLP(
            n_inputs, config.hidden_dims, n_classes, config.activation, dtype=config.dtype, batch_norm=config.batch_norm
        )
        self.mlp.set_weights(weights)
        self.update, template = make_optimizer(config.optimizer, config.lr, config.weight_decay, config.momentum)
        self.states = {name: dict(template) for name, _, _ in self.mlp.named_parameters()}

    def train_step(self, x, y):
        """One forward, backward and update on a batch; returns (loss, probs (N, C)).

        A non-finite loss is returned without updating, so the weights stay usable.
        """
        self.mlp.train()
        loss, probs = self.mlp.loss_and_backward(x, y)
        if not np.isfinite(loss):
            return loss, probs
        for name, module, key in self.mlp.named_parameters():
            module.params[key], self.states[name] = self.update(
                module.params[key], module.grads[key], self.states[name]
            )
        return loss, probs

    def loss_and_grads(self, x, y):
        """(loss, {name: gradient}) on a batch in training mode, without updating the weights.

        Batch norm's running estimates are left as they were.
        """
        saved = self.mlp.get_weights()
        self.mlp.train()
        loss, _ = self.mlp.loss_and_backward(x, y)
        grads = self.last_grads()
        self.mlp.set_weights(saved)
        return loss, grads

    def last_grads(self):
        """{name: gradient} of the last step, as copies."""
        return {name: g.copy() for name, g in self.mlp.get_grads().items()}

    def predict_logits(self, x, batch_size=4096):
        """Logits z⁽ᴸ⁾ (N, C) in eval mode, in chunks so a large set does not allocate at once."""
        self.mlp.eval()
        out = [self.mlp.logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        self.mlp.clear_cache()
        return np.concatenate(out) if out else np.zeros((0, self.mlp.widths[-1]), self.mlp.dtype)

    def get_weights(self):
        return self.mlp.get_weights()

    def set_weights(self, weights):
        self.mlp.set_weights(weights)


class TorchBackend(_Backend):
    """``core.nn.torch_mlp.TorchMLP`` trained with the matching ``torch.optim`` optimizer."""

    name = "torch"

    def __init__(self, n_inputs, n_classes, config, weights, device=None):
        import torch
        import torch.nn.functional as F

        from core.nn.torch_mlp import TorchMLP, default_device, make_torch_optimizer

        self.torch, self.F = torch, F
        self.model = TorchMLP.from_weights(weights, config.activation, config.dtype, device or default_device())
        self.opt = make_torch_optimizer(
            config.optimizer, self.model.parameters(), config.lr, config.weight_decay, config.momentum
        )

    def _tensor(self, a):
        """A NumPy array on the model's device; floating arrays in the model's dtype."""
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t.to(self.model.device, self.model.dtype) if t.is_floating_point() else t.to(self.model.device)

    def _loss(self, x, y):
        self.model.train()
        logits = self.model(self._tensor(x))
        return self.F.cross_entropy(logits, self._tensor(y)), logits

    def train_step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        loss, logits = self._loss(x, y)
        probs = self.torch.softmax(logits.detach(), dim=1).cpu().numpy()
        if not self.torch.isfinite(loss):
            return loss.item(), probs
        loss.backward()
        self.opt.step()
        return loss.item(), probs

    def loss_and_grads(self, x, y):
        saved = self.model.numpy_weights()
        self.model.zero_grad(set_to_none=True)
        loss, _ = self._loss(x, y)
        loss.backward()
        self.model.load_numpy_weights(saved)  # the running estimates as they were
        return loss.item(), self.last_grads()

    def last_grads(self):
        return self.model.numpy_grads()

    def predict_logits(self, x, batch_size=4096):
        self.model.eval()
        with self.torch.no_grad():
            out = [self.model(self._tensor(x[i : i + batch_size])).cpu().numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.model.linears[-1].out_features))

    def get_weights(self):
        return self.model.numpy_weights()

    def set_weights(self, weights):
        self.model.load_numpy_weights(weights)


def make_backend(name, n_inputs, n_classes, config, weights):
    """The backend called ``name`` ("numpy" or "torch") starting from ``weights``."""
    cls = {"numpy": NumpyBackend, "torch": TorchBackend}.get(name)
    if cls is None:
        raise ValueError(f"unknown backend {name!r}: choose numpy or torch")
    return cls(n_inputs, n_classes, config, weights)


def initial_weights(n_inputs, hidden_dims, n_classes, seed, dtype="float64", batch_norm=False):
    """The seeded Kaiming initial weights both backends start from, in the common dict form.

    Batch norm starts at γ = 1, β = 0, running mean 0 and running variance 1, as in PyTorch.
    """
    mlp = MLP(n_inputs, hidden_dims, n_classes, dtype=dtype, rng=np.random.default_rng(seed), batch_norm=batch_norm)
    return mlp.get_weights()

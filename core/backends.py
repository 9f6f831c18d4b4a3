"""One trainable-model interface over the two backends, so training code never branches.

Both backends build their MLP from the same NumPy-drawn initial weights, take the same
mini-batches, and report losses and gradients as Python floats and NumPy arrays.
"""

import numpy as np

from core.losses import log_softmax
from core.numpy_mlp import MLP
from core.optim import make_optimizer


class _Backend:
    """What both backends share: probabilities from their ``predict_logits``."""

    def predict_proba(self, x):
        """Class probabilities softmax(z_L), (N, C), computed from the logits without overflow."""
        return np.exp(log_softmax(self.predict_logits(x)))


class NumpyBackend(_Backend):
    """The hand-derived MLP with explicit-state optimizers from ``core.optim``."""

    name = "numpy"

    def __init__(self, n_inputs, n_classes, config, weights):
        self.mlp = MLP(n_inputs, config.hidden_dims, n_classes, config.activation, dtype=config.dtype)
        self.mlp.set_weights(weights)
        self.update, template = make_optimizer(config.optimizer, config.lr, config.weight_decay, config.momentum)
        self.states = [[dict(template), dict(template)] for _ in self.mlp.layers]

    def train_step(self, x, y):
        """One forward, backward and update on a batch; returns (loss, probs (N, C)).

        A non-finite loss is returned without updating, so the weights stay usable.
        """
        loss, probs = self.mlp.loss_and_backward(x, y)
        if not np.isfinite(loss):
            return loss, probs
        for layer, states in zip(self.mlp.layers, self.states):
            for k, name in enumerate(("weight", "bias")):
                layer.params[name], states[k] = self.update(layer.params[name], layer.grads[name], states[k])
        return loss, probs

    def loss_and_grads(self, x, y):
        """(loss, [(dW, db), …]) on a batch without updating the weights."""
        loss, _ = self.mlp.loss_and_backward(x, y)
        return loss, self.last_grads()

    def last_grads(self):
        """[(dW, db), …] of the last step, as copies."""
        return [(dW.copy(), db.copy()) for dW, db in self.mlp.get_grads()]

    def predict_logits(self, x, batch_size=4096):
        """Logits z_L (N, C), in chunks so a large set does not allocate at once."""
        out = [self.mlp.logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.mlp.widths[-1]), self.mlp.dtype)

    def get_weights(self):
        return self.mlp.get_weights()

    def set_weights(self, weights):
        self.mlp.set_weights(weights)


class TorchBackend(_Backend):
    """``core.torch_mlp.TorchMLP`` trained with the matching ``torch.optim`` optimizer."""

    name = "torch"

    def __init__(self, n_inputs, n_classes, config, weights):
        import torch
        import torch.nn.functional as F

        from core.torch_mlp import TorchMLP, make_torch_optimizer

        self.torch, self.F = torch, F
        self.model = TorchMLP(n_inputs, config.hidden_dims, n_classes, config.activation, dtype=config.dtype)
        self.model.load_numpy_weights(weights)
        self.opt = make_torch_optimizer(
            config.optimizer, self.model.parameters(), config.lr, config.weight_decay, config.momentum
        )

    def _tensor(self, a):
        """A NumPy array on the model's device; floating arrays in the model's dtype."""
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t.to(self.model.device, self.model.dtype) if t.is_floating_point() else t.to(self.model.device)

    def _loss(self, x, y):
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
        self.model.zero_grad(set_to_none=True)
        loss, _ = self._loss(x, y)
        loss.backward()
        return loss.item(), self.last_grads()

    def last_grads(self):
        return self.model.numpy_grads()

    def predict_logits(self, x, batch_size=4096):
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


def initial_weights(n_inputs, hidden_dims, n_classes, seed, dtype="float64"):
    """The seeded Kaiming initial weights both backends start from: [(W, b), …]."""
    mlp = MLP(n_inputs, hidden_dims, n_classes, dtype=dtype, rng=np.random.default_rng(seed))
    return mlp.get_weights()

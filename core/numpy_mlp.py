"""The NumPy MLP with hand-derived backpropagation (the course assignment's interface).

``from core.numpy_mlp import LinearModule, ELUModule, SoftMaxModule, CrossEntropyModule, MLP``
works as in the assignment; the modules live in ``layers``, ``activations`` and ``losses``.
"""

import numpy as np

from core.activations import ELUModule, make_activation
from core.layers import LinearModule
from core.losses import CrossEntropyModule, SoftMaxModule, softmax_cross_entropy

__all__ = ["LinearModule", "ELUModule", "SoftMaxModule", "CrossEntropyModule", "MLP"]


class MLP:
    """Linear → activation → … → Linear → softmax.

    Args:
        n_inputs: D, features per sample.
        n_hidden: list of hidden widths (may be empty: softmax regression).
        n_classes: C.
        activation: name from ``core.activations.ACTIVATIONS`` (the course uses "elu").
        dtype: np.float64 (default, as in the course) or np.float32; inputs are cast to it.
        rng: ``np.random.Generator`` for the initial weights; the global ``np.random`` if None.

    After ``forward(x)`` the MLP keeps, for the pages that show them:
        ``zs[l]``: pre-activation of layer l, (N, H_l); the last is the logits (N, C).
        ``activations[l]``: a_l = f(z_l); ``activations[0]`` is x and the last the probabilities.
    After ``backward`` (or ``loss_and_backward``):
        ``deltas[l]``: δ_l = ∂L/∂z_l, (N, H_l), and ``layers[l].grads``.
    """

    def __init__(self, n_inputs, n_hidden, n_classes, activation="elu", dtype=np.float64, rng=None):
        widths = [int(n_inputs), *[int(h) for h in n_hidden], int(n_classes)]
        make_activation(activation)  # fail early on an unknown name
        self.activation = activation
        self.dtype = np.dtype(dtype)
        self.layers = [
            LinearModule(d_in, d_out, input_layer=(i == 0), dtype=self.dtype, rng=rng)
            for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:]))
        ]
        self.nonlinearities = [make_activation(activation) for _ in n_hidden]
        self.softmax = SoftMaxModule()
        self.zs, self.activations, self.deltas = [], [], []

    @property
    def widths(self):
        """[D, H_1, …, C]."""
        return [self.layers[0].params["weight"].shape[1]] + [lin.params["weight"].shape[0] for lin in self.layers]

    def logits(self, x):
        """z_L for x (N, D) → (N, C); caches every z_l and a_l on the way."""
        a = np.asarray(x, dtype=self.dtype)
        self.zs, self.activations = [], [a]
        for l, linear in enumerate(self.layers):
            z = linear.forward(a)  # (N, H_l)
            self.zs.append(z)
            if l < len(self.nonlinearities):
                a = self.nonlinearities[l].forward(z)
                self.activations.append(a)
        return z

    def forward(self, x):
        """Class probabilities softmax(z_L), (N, C)."""
        probs = self.softmax.forward(self.logits(x))
        self.activations.append(probs)
        return probs

    def backward(self, dout):
        """Backpropagate dout = ∂L/∂probs (N, C), e.g. from ``CrossEntropyModule.backward``."""
        self.backward_from_logits(self.softmax.backward(dout))

    def backward_from_logits(self, dlogits, input_grad=False):
        """Backpropagate δ_L = ∂L/∂z_L (N, C); fills every layer's grads and ``deltas``.

        δ_l = (δ_{l+1} W_{l+1}) ⊙ f'(z_l).  Returns ∂L/∂x (N, D) if ``input_grad`` else None.
        """
        delta = dlogits
        self.deltas = [delta]
        for l in range(len(self.layers) - 1, -1, -1):
            da = self.layers[l].backward(delta, need_dx=(l > 0 or input_grad))  # ∂L/∂a_{l-1}
            if l > 0:
                delta = self.nonlinearities[l - 1].backward(da)  # ⊙ f'(z_{l-1})
                self.deltas.insert(0, delta)
        return da

    def loss_and_backward(self, x, y):
        """Forward, fused softmax-cross-entropy and backward in one go (what training uses).

        Returns (loss, probs (N, C)); grads and ``deltas`` are filled.
        """
        loss, dlogits, probs = softmax_cross_entropy(self.logits(x), y)
        self.softmax.out = probs  # so a later ``backward(dout)`` uses this batch's probabilities
        self.activations.append(probs)
        self.backward_from_logits(dlogits)
        return loss, probs

    def clear_cache(self):
        for module in [*self.layers, *self.nonlinearities, self.softmax]:
            module.clear_cache()
        self.zs, self.activations, self.deltas = [], [], []

    # Parameters as plain lists, the form optimizers, torch and .npz files share.
    def get_weights(self):
        """[(W_1, b_1), …] as copies; W_l: (H_l, H_{l-1}), b_l: (H_l,)."""
        return [(lin.params["weight"].copy(), lin.params["bias"].copy()) for lin in self.layers]

    def set_weights(self, weights):
        """Load [(W, b), …] (shapes must match), cast to the model's dtype."""
        if len(weights) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} layers of weights, got {len(weights)}")
        for lin, (W, b) in zip(self.layers, weights):
            if W.shape != lin.params["weight"].shape or b.shape != lin.params["bias"].shape:
                raise ValueError(f"weight shapes {W.shape}, {b.shape} do not match {lin.params['weight'].shape}")
            lin.params["weight"] = np.array(W, dtype=self.dtype)
            lin.params["bias"] = np.array(b, dtype=self.dtype)

    def get_grads(self):
        """[(dW_1, db_1), …] from the last backward."""
        return [(lin.grads["weight"], lin.grads["bias"]) for lin in self.layers]

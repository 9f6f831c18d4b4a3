"""The NumPy MLP with hand-derived backpropagation: the project's one backward pass.

Every page that shows a forward or backward pass reads the caches this MLP keeps, so batch
norm and gradient checkpointing show up everywhere without a second copy of backprop.

Weights travel in one common form, a dict of named arrays (what ``get_weights`` returns,
optimizers update, torch loads and ``.npz`` runs store): see ``core.nn.weights``.
"""

from collections.abc import Mapping

import numpy as np

from core.nn.activations import make_activation
from core.nn.batchnorm import BatchNormModule
from core.nn.checkpoint import checkpointed_loss_and_backward
from core.nn.layers import LinearModule
from core.nn.losses import SoftMaxModule, softmax_cross_entropy
from core.nn.weights import BUFFERS, check, has_batch_norm, widths


class MLP:
    """Linear → [batch norm] → activation → … → Linear → softmax.

    Args:
        n_inputs: D, features per sample.
        n_hidden: list of hidden widths (may be empty: softmax regression).
        n_classes: C.
        activation: name from ``core.nn.activations.ACTIVATIONS`` (the course uses "elu").
        dtype: np.float64 (default, as in the course) or np.float32; inputs are cast to it.
        rng: ``np.random.Generator`` for the initial weights; the global ``np.random`` if None.
        batch_norm: put a ``BatchNormModule`` between each hidden Linear and its activation, as
            the course's PyTorch MLP does. The Linear before it has no bias: batch norm subtracts
            the batch mean, so a bias there cannot change the loss and β takes its place. (Kept, its
            gradient would be 0 in exact arithmetic but round-off in floating point, ~1e-17, which
            Adam's normalized steps turn into full-size random moves: the two backends' biases would
            drift apart while everything that matters agreed.)

    After a forward pass the MLP keeps, for the pages that show them (lists over layers):
        ``zs[l-1]``: z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾, (N, H_l); the last is the logits (N, C).
        ``bn_outs[l-1]``: batch norm's output γ x̂ + β of hidden layer l (empty without batch norm).
        ``activations[l]``: a⁽ˡ⁾ = f(…); ``activations[0]`` is x and the last the probabilities.
    After ``backward`` (or ``loss_and_backward``):
        ``deltas[l-1]``: δ⁽ˡ⁾ = ∂L/∂z⁽ˡ⁾, (N, H_l); ``bn_deltas[l-1]``: ∂L/∂(batch norm's output).
        every module's ``grads``.
    """

    def __init__(self, n_inputs, n_hidden, n_classes, activation="elu", dtype=np.float64, rng=None, batch_norm=False):
        widths = [int(n_inputs), *[int(h) for h in n_hidden], int(n_classes)]
        make_activation(activation)  # fail early on an unknown name
        self.activation = activation
        self.dtype = np.dtype(dtype)
        self.batch_norm = bool(batch_norm)
        n_hidden_layers = len(widths) - 2
        self.layers = [
            LinearModule(
                d_in,
                d_out,
                input_layer=(i == 0),
                dtype=self.dtype,
                rng=rng,
                bias=not (batch_norm and i < n_hidden_layers),
            )
            for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:]))
        ]
        self.norms = [BatchNormModule(h, dtype=self.dtype) for h in widths[1:-1]] if batch_norm else []
        self.nonlinearities = [make_activation(activation) for _ in n_hidden]
        self.softmax = SoftMaxModule()
        self.training = True
        self.zs, self.bn_outs, self.activations, self.deltas, self.bn_deltas = [], [], [], [], []

    @classmethod
    def from_weights(cls, weights, activation, dtype=np.float64):
        """An MLP with the architecture and values of ``weights`` (the common dict form)."""
        w = widths(check(weights))
        mlp = cls(
            w[0],
            w[1:-1],
            w[-1],
            activation,
            dtype=dtype,
            rng=np.random.default_rng(0),
            batch_norm=has_batch_norm(weights),
        )
        mlp.set_weights(weights)
        return mlp

    @property
    def widths(self):
        """[D, H_1, …, C]."""
        return [self.layers[0].params["weight"].shape[1]] + [lin.params["weight"].shape[0] for lin in self.layers]

    @property
    def n_layers(self):
        """L, the number of linear layers (hidden layers + 1)."""
        return len(self.layers)

    @property
    def pre_activations(self):
        """What each hidden activation receives: batch norm's output, or z without batch norm."""
        return self.bn_outs if self.batch_norm else self.zs[:-1]

    def train(self):
        """Training mode: batch norm normalizes with the batch and updates its running estimates."""
        self.training = True
        for bn in self.norms:
            bn.train()
        return self

    def eval(self):
        """Eval mode: batch norm uses its running estimates (a sample's output is independent of its batch)."""
        self.training = False
        for bn in self.norms:
            bn.eval()
        return self

    # ---- one layer at a time: block l is Linear l, then (for hidden layers) batch norm and f ----

    def block_forward(self, l, a, update_stats=True):
        """Forward through block l (0-based) from its input a⁽ˡ⁾ (N, H_l).

        Returns (z, u, out): the Linear's output z, what the activation receives u (batch norm's
        output, or z), and the block's output f(u); for the output block u and out are the logits z.
        """
        z = self.layers[l].forward(a)  # (N, H_{l+1})
        if l == len(self.layers) - 1:
            return z, z, z
        u = self.norms[l].forward(z, update_stats) if self.norms else z
        return z, u, self.nonlinearities[l].forward(u)

    def block_backward(self, l, dout, need_dx=True):
        """Backward through block l from dout = ∂L/∂(its output); fills its modules' grads.

        Returns (dz, du, dx): δ = ∂L/∂z, ∂L/∂u (what the activation received) and ∂L/∂(block input),
        dx None when ``need_dx`` is false.
        """
        du = dout
        if l < len(self.layers) - 1:
            du = self.nonlinearities[l].backward(dout)  # ⊙ f'(u)
        dz = self.norms[l].backward(du) if self.norms and l < len(self.layers) - 1 else du
        return dz, du, self.layers[l].backward(dz, need_dx=need_dx)

    def block_modules(self, l):
        """The modules of block l, in forward order."""
        if l == len(self.layers) - 1:
            return [self.layers[l]]
        return [self.layers[l], *self.norms[l : l + 1], self.nonlinearities[l]]

    # ---- the whole network ----

    def logits(self, x):
        """z⁽ᴸ⁾ for x (N, D) → (N, C); caches every z, batch-norm output and a on the way."""
        a = np.asarray(x, dtype=self.dtype)
        self.zs, self.bn_outs, self.activations = [], [], [a]
        for l in range(len(self.layers)):
            z, u, a = self.block_forward(l, a)
            self.zs.append(z)
            if l < len(self.layers) - 1:
                if self.norms:
                    self.bn_outs.append(u)
                self.activations.append(a)
        return a

    def forward(self, x):
        """Class probabilities softmax(z⁽ᴸ⁾), (N, C)."""
        probs = self.softmax.forward(self.logits(x))
        self.activations.append(probs)
        return probs

    def backward(self, dout):
        """Backpropagate dout = ∂L/∂probs (N, C), e.g. from ``CrossEntropyModule.backward``."""
        self.backward_from_logits(self.softmax.backward(dout))

    def backward_from_logits(self, dlogits, input_grad=False):
        """Backpropagate δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾ (N, C); fills every module's grads, ``deltas`` and ``bn_deltas``.

        δ⁽ˡ⁾ = BN'ᵀ((δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ f'(u⁽ˡ⁾)), without batch norm (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ f'(z⁽ˡ⁾).
        Returns ∂L/∂x (N, D) if ``input_grad`` else None.
        """
        self.deltas, self.bn_deltas = [], []
        dout = dlogits
        for l in range(len(self.layers) - 1, -1, -1):
            dz, du, dout = self.block_backward(l, dout, need_dx=(l > 0 or input_grad))
            self.deltas.insert(0, dz)
            if self.norms and l < len(self.layers) - 1:
                self.bn_deltas.insert(0, du)
        return dout

    def loss_and_backward(self, x, y, checkpoint_every=None):
        """Forward, fused softmax-cross-entropy and backward in one go (what training uses).

        ``checkpoint_every``: None keeps every layer's activations (the plain backward, which
        fills ``zs``, ``activations`` and ``deltas``); an integer k keeps only every k-th layer's
        input and recomputes each segment during the backward; "sqrt" picks k = ⌈√L⌉
        (``core.nn.checkpoint``). Both give the same loss and gradients.

        Returns (loss, probs (N, C)); every module's grads are filled.
        """
        if checkpoint_every is not None:
            return checkpointed_loss_and_backward(self, x, y, checkpoint_every)
        loss, dlogits, probs = softmax_cross_entropy(self.logits(x), y)
        self.softmax.out = probs  # so a later ``backward(dout)`` uses this batch's probabilities
        self.activations.append(probs)
        self.backward_from_logits(dlogits)
        return loss, probs

    def clear_cache(self):
        for module in [*self.layers, *self.norms, *self.nonlinearities, self.softmax]:
            module.clear_cache()
        self.zs, self.bn_outs, self.activations, self.deltas, self.bn_deltas = [], [], [], [], []

    # ---- parameters in the common dict form ----

    def named_parameters(self):
        """[(name, module, key), …] for every trained array: W1, b1 (or gamma1, beta1), …, WL, bL.

        ``module.params[key]`` holds it and ``module.grads[key]`` its gradient, key "weight" or "bias".
        """
        out = []
        for l, lin in enumerate(self.layers, start=1):
            out += [(f"W{l}", lin, "weight")] + ([(f"b{l}", lin, "bias")] if "bias" in lin.params else [])
            if self.norms and l <= len(self.norms):
                out += [(f"gamma{l}", self.norms[l - 1], "weight"), (f"beta{l}", self.norms[l - 1], "bias")]
        return out

    def get_weights(self):
        """Every parameter and buffer as copies, in the common dict form (see the module docstring)."""
        weights = {}
        for name, module, key in self.named_parameters():
            weights[name] = module.params[key].copy()
            if name.startswith("beta"):  # the buffers follow γ and β of the same layer
                weights[f"running_mean{name[4:]}"] = module.running_mean.copy()
                weights[f"running_var{name[4:]}"] = module.running_var.copy()
        return weights

    def set_weights(self, weights):
        """Load the common dict form (names and shapes must match), cast to the model's dtype."""
        if not isinstance(weights, Mapping):
            raise ValueError(f"weights must be a dict of named arrays (W1, b1, …), got {type(weights).__name__}")
        expected = set(self.get_weights())
        if set(weights) != expected:
            missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
            raise ValueError(
                f"weights do not fit this network: missing {missing or 'none'}, unexpected {extra or 'none'}"
            )
        for name, module, key in self.named_parameters():
            if np.shape(weights[name]) != module.params[key].shape:
                raise ValueError(f"{name} has shape {np.shape(weights[name])}, expected {module.params[key].shape}")
            module.params[key] = np.array(weights[name], dtype=self.dtype)
        for l, bn in enumerate(self.norms, start=1):
            for buffer in BUFFERS:
                value = np.array(weights[f"{buffer}{l}"], dtype=self.dtype)
                if value.shape != bn.running_mean.shape:
                    raise ValueError(f"{buffer}{l} has shape {value.shape}, expected {bn.running_mean.shape}")
                setattr(bn, buffer, value)

    def get_grads(self):
        """Gradients of the last backward, {name: ∂L/∂name} for every parameter (views, not copies)."""
        return {name: module.grads[key] for name, module, key in self.named_parameters()}

    def n_parameters(self):
        """Trained numbers (weights, biases, γ, β); the running statistics are buffers, not counted."""
        return sum(module.params[key].size for _, module, key in self.named_parameters())

"""One sample's forward pass with every intermediate number, for the Forward pass view.

``forward_trace(weights, activation, x, y)`` runs the project's NumPy MLP (``core.nn.mlp``) on one
sample in float64 and eval mode, and keeps what its caches hold: z⁽ˡ⁾ = W⁽ˡ⁾ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾, batch
norm's output z̃⁽ˡ⁾ (one sample: normalized with the running estimates), a⁽ˡ⁾ = f(z̃⁽ˡ⁾), the softmax
probabilities and the loss. The rest of this module turns a trace into tidy frames for the charts.
Notation: ``core.analysis.text.notation``.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.text.notation import layer_name, sub
from core.nn.losses import log_softmax
from core.nn.mlp import MLP

MAX_DIAGRAM_UNITS = 32  # per drawn layer
MAX_DIAGRAM_EDGES = 3000  # lines in the diagram


@dataclass
class ForwardTrace:
    """Every number of one forward pass (field names shared with ``BackwardTrace``).

    Shape:
        x (D,); zs[l-1] = z⁽ˡ⁾ (H_l,) for l = 1 … L, the last the logits (C,); bn_outs[l-1] = z̃⁽ˡ⁾ (H_l,)
        for the hidden layers with batch norm (empty without); activations[l] = a⁽ˡ⁾ for l = 0 … L
        (a⁽⁰⁾ = x, a⁽ᴸ⁾ = probs); probs (C,).
    """

    x: np.ndarray  # (D,) the standardized input, a⁽⁰⁾
    y: int  # true class
    activation: str  # name in core.nn.activations.ACTIVATIONS
    weights: dict  # the common dict form, float64
    zs: list
    bn_outs: list
    activations: list
    probs: np.ndarray
    loss: float  # −log p_y, from log-softmax so it stays finite when p_y underflows to 0
    mlp: MLP  # the model that computed it (eval mode): its modules hold α, γ, the running estimates

    @property
    def n_layers(self):
        """L, the number of linear layers (hidden layers + 1)."""
        return len(self.zs)

    @property
    def widths(self):
        """[D, H_1, …, C]."""
        return [len(a) for a in self.activations]

    @property
    def batch_norm(self):
        return bool(self.bn_outs)

    @property
    def pre_activations(self):
        """What each hidden activation receives: z̃⁽ˡ⁾ with batch norm, z⁽ˡ⁾ without."""
        return self.bn_outs if self.batch_norm else self.zs[:-1]

    @property
    def predicted(self):
        """The most probable class, or None when the probabilities are not finite."""
        return int(np.argmax(self.probs)) if np.isfinite(self.probs).all() else None

    @property
    def is_finite(self):
        """False when any weight, z, a or the loss is NaN or infinite (a diverged network)."""
        arrays = [*self.zs, *self.activations, *self.weights.values()]
        return bool(np.isfinite(self.loss) and all(np.isfinite(a).all() for a in arrays))

    def layer_name(self, l):
        return layer_name(l, self.n_layers)

    def units_frame(self):
        """Long form, one row per layer, unit and quantity: layer, layer_name, unit, quantity, value.

        quantity is "z" (W a + b), "bn" (batch norm's output, hidden layers with batch norm only) or
        "a" (= f(…); the softmax probabilities on the output layer). Non-finite values become NaN.
        """
        rows = []
        for l in range(1, self.n_layers + 1):
            steps = [("z", self.zs[l - 1])]
            if self.batch_norm and l < self.n_layers:
                steps.append(("bn", self.bn_outs[l - 1]))
            steps.append(("a", self.activations[l]))
            for quantity, values in steps:
                for j, v in enumerate(values):
                    rows.append((l, self.layer_name(l), j, quantity, _finite_or_nan(v)))
        return pd.DataFrame(rows, columns=["layer", "layer_name", "unit", "quantity", "value"])

    def probs_frame(self, class_names=None):
        """class, class_index, probability, is_true: one row per class, in class order."""
        names = list(class_names) if class_names is not None else [str(k) for k in range(len(self.probs))]
        return pd.DataFrame(
            {
                "class": names,
                "class_index": np.arange(len(self.probs)),
                "probability": [_finite_or_nan(p) for p in self.probs],
                "is_true": np.arange(len(self.probs)) == self.y,
            }
        )

    def summary_frame(self):
        """One row per layer for nets too large to draw: units, weights, and statistics of z and a."""
        rows = [
            {
                "layer": self.layer_name(0),
                "units": len(self.x),
                "weights": 0,
                "mean z": np.nan,
                "std z": np.nan,
                "min a": float(np.min(self.x)),
                "max a": float(np.max(self.x)),
                "a = 0 (%)": 100 * float(np.mean(self.x == 0)),
                "‖W‖": np.nan,
            }
        ]
        with np.errstate(invalid="ignore", over="ignore"):
            for l, (z, a) in enumerate(zip(self.zs, self.activations[1:]), start=1):
                W = self.weights[f"W{l}"]
                n_params = W.size + W.shape[0] * (2 if f"gamma{l}" in self.weights else 1)  # b, or γ and β
                rows.append(
                    {
                        "layer": self.layer_name(l),
                        "units": len(z),
                        "weights": n_params,
                        "mean z": float(np.mean(z)),
                        "std z": float(np.std(z)),
                        "min a": float(np.min(a)),
                        "max a": float(np.max(a)),
                        "a = 0 (%)": 100 * float(np.mean(a == 0)),
                        "‖W‖": float(np.linalg.norm(W)),
                    }
                )
        return pd.DataFrame(rows)


def forward_trace(weights, activation, x, y):
    """Run the MLP given by ``weights`` on one sample and keep every z, batch-norm output and a.

    The numbers are the NumPy MLP's own (``core.nn.mlp.MLP`` in float64, eval mode: one sample has
    no batch statistics, so batch norm uses its running estimates), so they match what training
    computes. NaN or infinite weights (a diverged network) give NaNs, never an error.

    Args:
        weights: the common dict form, as ``get_weights()`` returns it.
        activation: hidden activation name, e.g. "elu".
        x: (D,) one standardized sample.
        y: its class, 0 … C−1.
    """
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    mlp = MLP.from_weights(weights, activation).eval()
    D, C = mlp.widths[0], mlp.widths[-1]
    x = np.asarray(x, dtype=np.float64).reshape(D)
    y = int(y)
    if not 0 <= y < C:
        raise ValueError(f"label {y} is not a class of this network (0 to {C - 1})")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        probs = mlp.forward(x[None])[0]  # (C,)
        loss = -float(log_softmax(mlp.zs[-1])[0, y]) + 0.0  # + 0.0: no −0 when p_y = 1
    return ForwardTrace(
        x=x,
        y=y,
        activation=activation,
        weights=weights,
        zs=[z[0] for z in mlp.zs],
        bn_outs=[u[0] for u in mlp.bn_outs],
        activations=[a[0] for a in mlp.activations],
        probs=probs,
        loss=loss,
        mlp=mlp,
    )


def input_frame(data, x):
    """How a sample enters the network: feature, raw (the file's units), mean, std, standardized.

    ``standardized = (raw / raw_scale − mean) / std`` with the training set's mean and std; for
    images only the first features are interesting, so callers usually show a few rows.
    """
    raw = data.to_raw(np.asarray(x)[None, :])[0]
    return pd.DataFrame(
        {
            "feature": [f"x{sub(i)}" for i in range(len(x))],
            "raw": raw,
            "mean": data.mean * data.raw_scale,
            "std": data.std * data.raw_scale,
            "standardized": np.asarray(x, dtype=np.float64),
        }
    )


def _finite_or_nan(v):
    v = float(v)
    return v if np.isfinite(v) else np.nan


# ---- the network diagram ---------------------------------------------------------------------


def diagram_layers(trace, include_input=True):
    """Indices l of the layers the diagram draws (0 = input), or None if the net is too large.

    Too large: a drawn layer wider than ``MAX_DIAGRAM_UNITS`` or more than ``MAX_DIAGRAM_EDGES`` lines.
    """
    layers = list(range(0 if include_input else 1, trace.n_layers + 1))
    widths = trace.widths
    n_edges = sum(widths[l - 1] * widths[l] for l in layers if l - 1 in layers)
    if max(widths[l] for l in layers) > MAX_DIAGRAM_UNITS or n_edges > MAX_DIAGRAM_EDGES:
        return None
    return layers


def diagram_frames(trace, layers, class_names=None):
    """Nodes and edges of the network diagram for the given layer indices (from ``diagram_layers``).

    nodes: layer, layer_name, unit, x (= layer), y (units centred on 0, unit 0 on top), z, value
        (the unit's output: x_i, a_j, or p_k on the output layer), label ("x₀", "x₁", … on the input
        layer, the class names on the output layer, "" elsewhere).
    edges: layer, from_unit, to_unit, x, y, x2, y2, weight, magnitude (|W_ji|), sign ("positive"/"negative").
    """

    def y_of(l, j):
        return (len(trace.activations[l]) - 1) / 2 - j

    L = trace.n_layers
    names = list(class_names) if class_names is not None else [str(k) for k in range(trace.widths[-1])]
    nodes = []
    for l in layers:
        z = trace.zs[l - 1] if l > 0 else [np.nan] * len(trace.x)
        for j, a in enumerate(trace.activations[l]):
            label = f"x{sub(j)}" if l == 0 else names[j] if l == L else ""
            nodes.append((l, trace.layer_name(l), j, l, y_of(l, j), _finite_or_nan(z[j]), _finite_or_nan(a), label))
    edges = []
    for l in layers:
        if l - 1 not in layers:
            continue
        W = trace.weights[f"W{l}"]  # (H_l, H_{l-1})
        for j in range(W.shape[0]):
            for i in range(W.shape[1]):
                w = _finite_or_nan(W[j, i])
                sign = "negative" if w < 0 else "positive"
                edges.append((l, i, j, l - 1, y_of(l - 1, i), l, y_of(l, j), w, abs(w), sign))
    return (
        pd.DataFrame(nodes, columns=["layer", "layer_name", "unit", "x", "y", "z", "value", "label"]),
        pd.DataFrame(
            edges, columns=["layer", "from_unit", "to_unit", "x", "y", "x2", "y2", "weight", "magnitude", "sign"]
        ),
    )

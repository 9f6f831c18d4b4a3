"""One sample's forward pass with every intermediate number, for the Forward pass view.

``forward_trace(weights, activation, x, y)`` runs the NumPy MLP on one sample in float64 and keeps
z⁽ˡ⁾ = W⁽ˡ⁾ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾ and a⁽ˡ⁾ = f(z⁽ˡ⁾) of every layer, the softmax probabilities and the loss.
The rest of this module turns a trace into tidy frames (bars, diagram) and LaTeX with the numbers.

Notation (stated once): layers are numbered l = 1..L, the output layer is L, a⁽⁰⁾ = x, and
a⁽ᴸ⁾ = p = softmax(z⁽ᴸ⁾). Weights follow ``core.layers``: W⁽ˡ⁾ is (H_l, H_{l-1}), so z_j = Σ_i W_ji a_i + b_j.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.activations import make_activation
from core.latex import tex_number
from core.losses import log_softmax
from core.numpy_mlp import MLP

MAX_DIAGRAM_UNITS = 32  # per drawn layer
MAX_DIAGRAM_EDGES = 3000  # lines in the diagram
MAX_SHOWN_TERMS = 6  # terms of Σ_i W_ji a_i written out (all if at most 8); the rest are summed
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


@dataclass
class ForwardTrace:
    """Every number of one forward pass.

    Shape:
        x (D,), weights [(W (H_l, H_{l-1}), b (H_l,)), …], zs[l-1] (H_l,) for l = 1..L (the last
        is the logits, (C,)), activations[l] (H_l,) for l = 0..L (a⁽⁰⁾ = x, a⁽ᴸ⁾ = probs), probs (C,).
    """

    x: np.ndarray  # (D,) the standardized input, a⁽⁰⁾
    y: int  # true class
    activation: str  # name in core.activations.ACTIVATIONS
    weights: list  # [(W, b), …] float64
    zs: list  # z⁽¹⁾ … z⁽ᴸ⁾
    activations: list  # a⁽⁰⁾ … a⁽ᴸ⁾
    probs: np.ndarray  # (C,) softmax(z⁽ᴸ⁾)
    loss: float  # −log p_y, from log-softmax so it stays finite when p_y underflows to 0

    @property
    def n_layers(self):
        """L, the number of linear layers (hidden layers + 1)."""
        return len(self.zs)

    @property
    def widths(self):
        """[D, H_1, …, C]."""
        return [len(a) for a in self.activations]

    @property
    def predicted(self):
        """The most probable class, or None when the probabilities are not finite."""
        return int(np.argmax(self.probs)) if np.isfinite(self.probs).all() else None

    @property
    def is_finite(self):
        """False when any weight, z, a or the loss is NaN or infinite (a diverged network)."""
        arrays = [*self.zs, *self.activations, *(w for pair in self.weights for w in pair)]
        return bool(np.isfinite(self.loss) and all(np.isfinite(a).all() for a in arrays))

    def layer_name(self, l):
        """The name of layer l: input (l = 0), hidden 1, hidden 2, … or output (l = L)."""
        return "input" if l == 0 else "output" if l == self.n_layers else f"hidden {l}"

    def units_frame(self):
        """Long form, one row per layer, unit and quantity: layer, layer_name, unit, quantity, value.

        quantity is "z" (pre-activation) or "a" (= f(z); softmax probabilities on the output layer).
        Non-finite values become NaN, which charts leave blank.
        """
        rows = []
        for l in range(1, self.n_layers + 1):
            for quantity, values in (("z", self.zs[l - 1]), ("a", self.activations[l])):
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
        rows = [{"layer": self.layer_name(0), "units": len(self.x), "weights": 0,
                 "mean z": np.nan, "std z": np.nan, "min a": float(np.min(self.x)), "max a": float(np.max(self.x)),
                 "a = 0 (%)": 100 * float(np.mean(self.x == 0)), "‖W‖": np.nan}]  # fmt: skip
        with np.errstate(invalid="ignore", over="ignore"):
            for l, ((W, b), z, a) in enumerate(zip(self.weights, self.zs, self.activations[1:]), start=1):
                rows.append({
                    "layer": self.layer_name(l), "units": len(z), "weights": W.size + b.size,
                    "mean z": float(np.mean(z)), "std z": float(np.std(z)), "min a": float(np.min(a)),
                    "max a": float(np.max(a)), "a = 0 (%)": 100 * float(np.mean(a == 0)),
                    "‖W‖": float(np.linalg.norm(W)),
                })  # fmt: skip
        return pd.DataFrame(rows)


def forward_trace(weights, activation, x, y):
    """Run the MLP given by ``weights`` on one sample and keep every z and a.

    The numbers are the NumPy MLP's own (``core.numpy_mlp.MLP`` in float64), so they match what
    training computes. NaN or infinite weights (a diverged network) give NaNs, never an error.

    Args:
        weights: [(W (H_l, H_{l-1}), b (H_l,)), …] as ``get_weights()`` returns them.
        activation: hidden activation name, e.g. "elu".
        x: (D,) one standardized sample.
        y: its class, 0..C-1.
    """
    weights = [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in weights]
    D, C = weights[0][0].shape[1], weights[-1][0].shape[0]
    hidden = [W.shape[0] for W, _ in weights[:-1]]
    mlp = MLP(D, hidden, C, activation, dtype=np.float64, rng=np.random.default_rng(0))  # init is overwritten
    mlp.set_weights(weights)
    x = np.asarray(x, dtype=np.float64).reshape(D)
    y = int(y)
    if not 0 <= y < C:
        raise ValueError(f"label {y} is not a class of this network (0 to {C - 1})")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        probs = mlp.forward(x[None])[0]  # (C,)
        loss = -float(log_softmax(mlp.zs[-1])[0, y]) + 0.0  # + 0.0: no −0 when p_y = 1
    return ForwardTrace(
        x=x, y=y, activation=activation, weights=weights, zs=[z[0] for z in mlp.zs],
        activations=[a[0] for a in mlp.activations], probs=probs, loss=loss,
    )  # fmt: skip


def _finite_or_nan(v):
    v = float(v)
    return v if np.isfinite(v) else np.nan


# ---- one unit's equation -------------------------------------------------------------------


@dataclass
class UnitEquation:
    """z_j = Σ_i W_ji a_i + b_j for one unit, with the largest terms kept and the rest summed.

    ``sum(w * a for _, w, a in terms) + rest + bias`` equals ``z`` up to rounding (about 1e-15).
    """

    layer: int  # l, 1..L
    unit: int  # j
    terms: list  # [(i, W_ji, a_i), …]: all in order of i, or the largest |W_ji a_i| first
    rest: float  # Σ of the terms not listed
    n_rest: int  # how many terms are not listed
    bias: float  # b_j
    z: float  # z_j as the model computed it
    a: float  # f(z_j) for a hidden unit, p_j for an output unit
    activation: str


def unit_equation(trace, layer, unit, max_terms=MAX_SHOWN_TERMS):
    """The numbers of z_j⁽ˡ⁾ = Σ_i W_ji a_i⁽ˡ⁻¹⁾ + b_j and a_j = f(z_j) for ``unit`` j of ``layer`` l."""
    if not 1 <= layer <= trace.n_layers:
        raise ValueError(f"layer must be 1 to {trace.n_layers}, got {layer}")
    W, b = trace.weights[layer - 1]
    if not 0 <= unit < len(b):
        raise ValueError(f"unit must be 0 to {len(b) - 1}, got {unit}")
    a_prev = trace.activations[layer - 1]  # (H_{l-1},)
    with np.errstate(over="ignore", invalid="ignore"):
        products = W[unit] * a_prev  # (H_{l-1},) the terms W_ji a_i
        order = np.argsort(-np.nan_to_num(np.abs(products), nan=np.inf), kind="stable")
        if len(products) <= max_terms + 2:  # "+ (2 more terms)" would say less than the terms themselves
            shown, hidden = np.arange(len(products)), order[:0]
        else:
            shown, hidden = order[:max_terms], order[max_terms:]
        rest = float(products[hidden].sum()) if len(hidden) else 0.0
    return UnitEquation(
        layer=layer, unit=unit, terms=[(int(i), float(W[unit, i]), float(a_prev[i])) for i in shown],
        rest=rest, n_rest=len(hidden), bias=float(b[unit]), z=float(trace.zs[layer - 1][unit]),
        a=float(trace.activations[layer][unit]), activation=trace.activation,
    )  # fmt: skip


# ---- LaTeX with the numbers ------------------------------------------------------------------


def _paren(v):
    """A number wrapped in parentheses when negative, so products read unambiguously."""
    return tex_number(v, brackets=True)


ACTIVATION_TEX = {
    "elu": r"\begin{cases} z & z > 0 \\ \alpha\,(e^{z} - 1) & z \le 0 \end{cases}",
    "relu": r"\max(z, 0)",
    "leaky_relu": r"\begin{cases} z & z > 0 \\ s\,z & z \le 0 \end{cases}",
    "tanh": r"\tanh z = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}}",
    "sigmoid": r"\sigma(z) = \frac{1}{1 + e^{-z}}",
    "identity": "z",
}


def activation_latex(eq):
    """a_j = f(z_j) for a hidden unit: the definition of f, then f at this z with the result."""
    module = make_activation(eq.activation)
    l, j, z = eq.layer, eq.unit, eq.z
    definition = rf"f(z) = {ACTIVATION_TEX[eq.activation]}"
    middle = None  # f written out at this z, where that adds something
    if eq.activation == "elu":
        definition += rf",\quad \alpha = {tex_number(module.alpha)}"
        middle = rf"{tex_number(module.alpha)}\,(e^{{{tex_number(z)}}} - 1)" if z <= 0 else None
    elif eq.activation == "leaky_relu":
        definition += rf",\quad s = {tex_number(module.negative_slope)}"
        middle = rf"{tex_number(module.negative_slope)} \cdot {_paren(z)}" if z <= 0 else None
    elif eq.activation == "relu":
        middle = rf"\max({tex_number(z)}, 0)"
    elif eq.activation == "sigmoid":
        middle = rf"\frac{{1}}{{1 + e^{{{tex_number(-z)}}}}}"
    steps = [rf"a^{{({l})}}_{{{j}}}", rf"f({tex_number(z)})", *([middle] if middle else []), tex_number(eq.a)]
    return definition, " = ".join(steps)


def linear_latex(eq, per_line=3):
    """z_j = Σ_i W_ji a_i + b_j, as a formula and with the numbers, ``per_line`` terms to a line."""
    l, j = eq.layer, eq.unit
    a_name = "x" if l == 1 else f"a^{{({l - 1})}}"
    lhs = rf"z^{{({l})}}_{{{j}}}"
    formula = rf"{lhs} = \sum_i W^{{({l})}}_{{{j}i}}\, {a_name}_i + b^{{({l})}}_{{{j}}}"
    parts = [rf"{_paren(w)} \cdot {_paren(a)}" for _, w, a in eq.terms]
    if eq.n_rest:
        parts.append(rf"\underbrace{{{_paren(eq.rest)}}}_{{\text{{{eq.n_rest} more terms}}}}")
    parts.append(rf"\underbrace{{{_paren(eq.bias)}}}_{{b}}")
    if len(parts) <= per_line + 1:
        return formula, rf"{lhs} = " + " + ".join(parts) + rf" = {tex_number(eq.z)}"
    lines = [" + ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
    body = r" \\ &\quad + ".join(lines)
    return formula, rf"\begin{{aligned}} {lhs} &= {body} \\ &= {tex_number(eq.z)} \end{{aligned}}"


def softmax_latex(trace, k):
    """p_k = e^{z_k} / Σ_j e^{z_j} as a formula and with the numbers.

    When a logit is large e^z would overflow, so the numbers then use z − max z, as the code does.
    """
    z, p = trace.zs[-1], trace.probs  # (C,), (C,)
    formula = rf"p_{{{k}}} = \frac{{e^{{z_{{{k}}}}}}}{{\sum_{{j}} e^{{z_j}}}}"
    if not np.isfinite(z).all():
        return formula, rf"p_{{{k}}} = {tex_number(p[k])}"
    shift = float(z.max()) if np.abs(z).max() > 50 else 0.0
    e = np.exp(z - shift)  # (C,)
    if len(z) <= 4:
        den = " + ".join(rf"e^{{{tex_number(v - shift)}}}" for v in z)
    else:
        den = rf"\sum_{{j}} e^{{z_j{' - ' + tex_number(shift) if shift else ''}}}"
    steps = [
        rf"\frac{{e^{{{tex_number(z[k] - shift)}}}}}{{{den}}}",
        rf"\frac{{{tex_number(e[k])}}}{{{tex_number(e.sum())}}}",
        tex_number(p[k]),
    ]
    numbers = rf"p_{{{k}}} = " + " = ".join(steps)
    if shift:
        numbers += rf"\qquad(\text{{every }} z \text{{ minus }} \max z = {tex_number(shift)}\text{{: same ratio, no overflow}})"
    return formula, numbers


def loss_latex(trace):
    """L = −log p_y with the numbers."""
    y = trace.y
    p = trace.probs[y]
    return rf"L = -\log p_{{y}} = -\log p_{{{y}}} = -\log {tex_number(p)} = {tex_number(trace.loss)}"


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
        (the unit's output: x_i, a_j, or p_k on the output layer), label ("x₁", "x₂", … on the input
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
            label = "x" + str(j + 1).translate(SUBSCRIPTS) if l == 0 else names[j] if l == L else ""
            nodes.append((l, trace.layer_name(l), j, l, y_of(l, j), _finite_or_nan(z[j]), _finite_or_nan(a), label))
    edges = []
    for l in layers:
        if l - 1 not in layers:
            continue
        W = trace.weights[l - 1][0]  # (H_l, H_{l-1})
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

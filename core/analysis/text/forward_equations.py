"""The Forward pass view's equations with the numbers of one unit filled in (LaTeX for ``st.latex``).

z_j⁽ˡ⁾ = Σ_i W_ji a_i⁽ˡ⁻¹⁾ + b_j, then with batch norm z̃_j = γ_j (z_j − μ_j)/√(σ²_j + ε) + β_j, then
a_j = f(z̃_j); the output layer's z are the logits, p = softmax(z), L = −log p_y. Every number comes
from a ``ForwardTrace`` (the MLP's own caches); notation from ``core.analysis.text.notation``.
"""

from dataclasses import dataclass

import numpy as np

from core.analysis.text.notation import activation_tex, tex_number, tex_sup

MAX_SHOWN_TERMS = 6  # terms of Σ_i W_ji a_i written out (all if at most 8); the rest are summed


def _paren(v):
    """A number wrapped in parentheses when negative, so products read unambiguously."""
    return tex_number(v, brackets=True)


@dataclass
class UnitEquation:
    """z_j = Σ_i W_ji a_i + b_j for one unit, with the largest terms kept and the rest summed.

    ``sum(w * a for _, w, a in terms) + rest + bias`` equals ``z`` up to rounding (about 1e-15).
    """

    layer: int  # l, 1 … L
    unit: int  # j, from 0
    terms: list  # [(i, W_ji, a_i), …]: all in order of i, or the largest |W_ji a_i| first
    rest: float  # Σ of the terms not listed
    n_rest: int  # how many terms are not listed
    bias: float  # b_j (0 before a batch norm, which has no bias)
    z: float  # z_j as the model computed it
    u: float  # what f receives: batch norm's output z̃_j, or z_j without batch norm
    a: float  # f(u) for a hidden unit, p_j for an output unit
    activation: str
    bn: dict | None = None  # hidden unit with batch norm: mean, var, eps, x_hat, gamma, beta (running estimates)


def unit_equation(trace, layer, unit, max_terms=MAX_SHOWN_TERMS):
    """The numbers of z_j⁽ˡ⁾ = Σ_i W_ji a_i⁽ˡ⁻¹⁾ + b_j, batch norm and a_j = f(…) for ``unit`` j of ``layer`` l."""
    if not 1 <= layer <= trace.n_layers:
        raise ValueError(f"layer must be 1 to {trace.n_layers}, got {layer}")
    W = trace.weights[f"W{layer}"]
    b = trace.weights.get(f"b{layer}", np.zeros(W.shape[0]))  # no bias before batch norm
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
    hidden_layer = layer < trace.n_layers
    z = float(trace.zs[layer - 1][unit])
    u = float(trace.pre_activations[layer - 1][unit]) if hidden_layer else z
    bn = None
    if hidden_layer and trace.batch_norm:
        norm = trace.mlp.norms[layer - 1]
        bn = {
            "mean": float(norm.running_mean[unit]),
            "var": float(norm.running_var[unit]),
            "eps": norm.eps,
            "x_hat": float(norm.x_hat[0, unit]),
            "gamma": float(norm.params["weight"][unit]),
            "beta": float(norm.params["bias"][unit]),
        }
    return UnitEquation(
        layer=layer,
        unit=unit,
        terms=[(int(i), float(W[unit, i]), float(a_prev[i])) for i in shown],
        rest=rest,
        n_rest=len(hidden),
        bias=float(b[unit]),
        z=z,
        u=u,
        a=float(trace.activations[layer][unit]),
        activation=trace.activation,
        bn=bn,
    )


def linear_latex(eq, per_line=3):
    """z_j = Σ_i W_ji a_i + b_j, as a formula and with the numbers, ``per_line`` terms to a line."""
    l, j = eq.layer, eq.unit
    a_name = "x" if l == 1 else f"a{tex_sup(l - 1)}"
    lhs = rf"z{tex_sup(l)}_{{{j}}}"
    bias = "" if eq.bn else rf" + b{tex_sup(l)}_{{{j}}}"
    formula = rf"{lhs} = \sum_i W{tex_sup(l)}_{{{j},i}}\, {a_name}_i{bias}"
    parts = [rf"{_paren(w)} \cdot {_paren(a)}" for _, w, a in eq.terms]
    if eq.n_rest:
        parts.append(rf"\underbrace{{{_paren(eq.rest)}}}_{{\text{{{eq.n_rest} more terms}}}}")
    if eq.bn is None:  # a Linear before batch norm has no bias (β takes its place)
        parts.append(rf"\underbrace{{{_paren(eq.bias)}}}_{{b}}")
    if len(parts) <= per_line + 1:
        return formula, rf"{lhs} = " + " + ".join(parts) + rf" = {tex_number(eq.z)}"
    lines = [" + ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
    body = r" \\ &\quad + ".join(lines)
    return formula, rf"\begin{{aligned}} {lhs} &= {body} \\ &= {tex_number(eq.z)} \end{{aligned}}"


def batchnorm_latex(eq):
    """z̃_j = γ_j (z_j − μ_j)/√(σ²_j + ε) + β_j with the running estimates, as a formula and with the numbers."""
    l, j, bn = eq.layer, eq.unit, eq.bn
    zt = rf"\tilde z{tex_sup(l)}_{{{j}}}"
    formula = (
        rf"{zt} = \gamma_{{{j}}}\,\hat z_{{{j}}} + \beta_{{{j}}}, \qquad \hat z_{{{j}}} = "
        rf"\frac{{z_{{{j}}} - \mu_{{{j}}}}}{{\sqrt{{\sigma^2_{{{j}}} + \varepsilon}}}}"
    )
    x_hat = (
        rf"\hat z_{{{j}}} = \frac{{{tex_number(eq.z)} - {_paren(bn['mean'])}}}{{\sqrt{{{tex_number(bn['var'])} + "
        rf"{tex_number(bn['eps'])}}}}} = {tex_number(bn['x_hat'])}"
    )
    out = rf"{zt} = {_paren(bn['gamma'])} \cdot {_paren(bn['x_hat'])} + {_paren(bn['beta'])} = {tex_number(eq.u)}"
    return formula, x_hat, out


def activation_latex(eq, module):
    """a_j = f(z̃_j) for a hidden unit: the definition of f (constants from ``module``), then f at this value."""
    l, j, u = eq.layer, eq.unit, eq.u
    definition = rf"f(z) = {activation_tex(module, eq.activation)[0]}"
    middle = None  # f written out at this value, where that adds something
    if eq.activation == "elu" and u <= 0:
        middle = rf"{tex_number(module.alpha)}\,(e^{{{tex_number(u)}}} - 1)"
    elif eq.activation == "leaky_relu" and u <= 0:
        middle = rf"{tex_number(module.negative_slope)} \cdot {_paren(u)}"
    elif eq.activation == "relu":
        middle = rf"\max({tex_number(u)}, 0)"
    elif eq.activation == "sigmoid":
        middle = rf"\frac{{1}}{{1 + e^{{{tex_number(-u)}}}}}"
    steps = [rf"a{tex_sup(l)}_{{{j}}}", rf"f({tex_number(u)})", *([middle] if middle else []), tex_number(eq.a)]
    return definition, " = ".join(steps)


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
        numbers += rf"\qquad(\text{{every }} z \text{{ minus }} \max z = {tex_number(shift)}"
        numbers += r"\text{: same ratio, no overflow})"
    return formula, numbers


def loss_latex(trace):
    """L = −log p_y with the numbers."""
    y = trace.y
    return rf"L = -\log p_{{y}} = -\log p_{{{y}}} = -\log {tex_number(trace.probs[y])} = {tex_number(trace.loss)}"


def input_latex(frame):
    """x_i = (raw_i − mean_i) / std_i with the numbers, one line per row of ``forward_trace.input_frame``:
    how a value in the data's own units becomes the standardized input the network sees."""
    lines = []
    for i, row in enumerate(frame.itertuples()):
        lines.append(
            rf"x_{{{i}}} = \frac{{\text{{raw}}_{{{i}}} - \text{{mean}}_{{{i}}}}}{{\text{{std}}_{{{i}}}}} = "
            rf"\frac{{{tex_number(row.raw)} - {_paren(row.mean)}}}{{{tex_number(row.std)}}} = "
            rf"{tex_number(row.standardized)}"
        )
    return lines

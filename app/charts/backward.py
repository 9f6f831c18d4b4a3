"""Charts of the Backward page: δ per layer, gradient heatmaps, NumPy vs autograd, gradient norms."""

import altair as alt
import numpy as np
import pandas as pd

from app.charts.common import diverging_scale
from core.analysis.backward_trace import matrix_frame
from core.analysis.notation import layer_name

LOG_FLOOR = 1e-20  # zeros drawn here on log scales
MAX_POINTS = 400  # steps per line in the gradient-norm charts
LAYER_COLORS = alt.Scale(scheme="viridis")


def delta_chart(frame, height=300, pooled=False):
    """Heatmap of δ: a row per layer (output on top), a cell per unit, colour δ / max|δ| of the layer."""
    order = list(dict.fromkeys(frame["layer"]))[::-1]  # output on top
    x_title = "block of units j, the largest |δ| shown (hover for the units)" if pooled else "unit j"
    return (
        alt.Chart(frame, title=alt.Title("δ = ∂L/∂z at every layer", subtitle="each row scaled by its own largest |δ|"))
        .mark_rect()
        .encode(
            x=alt.X("position:O", title=x_title, axis=_axis(frame["position"].max() + 1)),
            y=alt.Y("layer:N", sort=order, title=None),
            color=alt.Color(
                "scaled:Q",
                scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                title=["δ ÷ largest |δ|", "of its layer"],
            ),
            tooltip=[
                alt.Tooltip("layer:N"),
                alt.Tooltip("units:N", title="unit(s) j"),
                alt.Tooltip("delta:Q", title="δ", format=".4~e"),
                alt.Tooltip("layer_max:Q", title="largest |δ| in the layer", format=".3~e"),
            ],
        )
        .properties(height=height)
    )


def delta_norm_chart(trace, height=300):
    """Bars of ‖δ^l‖ per layer on a log scale: how much error signal reaches each layer."""
    frame = pd.DataFrame(
        {
            "layer": [layer_name(l, trace.n_layers) for l in range(1, trace.n_layers + 1)],
            "norm": [float(np.linalg.norm(d)) for d in trace.deltas],
        }
    )
    frame = _floored(frame, "norm")
    order = [layer_name(l, trace.n_layers) for l in range(trace.n_layers, 0, -1)]
    return (
        alt.Chart(frame, title=alt.Title("Size of δ per layer", subtitle="‖δˡ‖, log scale"))
        .mark_bar()
        .encode(
            y=alt.Y("layer:N", sort=order, title=None),
            x=alt.X("shown:Q", scale=alt.Scale(type="log"), title="‖δ‖ (log scale)"),
            x2="base:Q",
            color=alt.value("#6a51a3"),
            tooltip=[alt.Tooltip("layer:N"), alt.Tooltip("norm:Q", title="‖δ‖", format=".4~e")],
        )
        .properties(height=height)
    )


def _axis(n, block=1):
    """An ordinal axis of n cells of ``block`` units each, labelled by unit, about 16 labels at most."""
    step = max(1, int(np.ceil(n / 16)))
    return alt.Axis(labelExpr=f"datum.value % {step} == 0 ? datum.value * {block} : ''", labelAngle=0)


def gradient_heatmap(M, title, x_title, y_title, value_title, selected=None, height=320, width="container"):
    """Heatmap of a gradient matrix M (R, C), colour centred on zero; the entry ``selected`` (j, i) is outlined.

    Matrices beyond MAX_CELLS rows or columns are pooled (``pool_max_abs``); the axes still count units.
    """
    frame, (r, c) = matrix_frame(M)
    finite = frame["value"].to_numpy()[np.isfinite(frame["value"].to_numpy())]  # NaN does not set the scale
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("col:O", title=x_title, axis=_axis(frame["col"].max() + 1, c)),
        y=alt.Y("row:O", title=y_title, axis=_axis(frame["row"].max() + 1, r)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=diverging_scale(finite), title=value_title),
        tooltip=[
            alt.Tooltip("rows:N", title=y_title),
            alt.Tooltip("cols:N", title=x_title),
            alt.Tooltip("value:Q", title=value_title, format=".4~e"),
        ],
    )
    chart = cells
    if selected is not None:
        outline = base.transform_filter(
            (alt.datum.row == int(selected[0]) // r) & (alt.datum.col == int(selected[1]) // c)
        ).mark_rect(fill=None, stroke="black", strokeWidth=3)
        chart = cells + outline
    return chart.properties(height=height, width=width)


def _floored(frame, column):
    """``frame`` with ``shown`` = column clipped to LOG_FLOOR (NaN and ∞ dropped from the log axis) and
    ``base``, a power of ten below every value, where log-scale bars start (a log axis has no zero)."""
    out = frame.copy()
    out["shown"] = out[column].where(np.isfinite(out[column]), np.nan).clip(lower=LOG_FLOOR)
    low = out["shown"].min()
    out["base"] = 10.0 ** (np.floor(np.log10(low)) - 1) if np.isfinite(low) else LOG_FLOOR / 10
    return out


def difference_chart(cmp, eps, height=300):
    """Bars of max |NumPy − autograd| per layer and quantity, log scale, with machine ε as a rule."""
    frame = _floored(cmp, "max_abs_diff")
    top = np.nanmax([frame["shown"].max(), eps])
    powers = range(round(np.log10(frame["base"].min())), int(np.ceil(np.log10(top))) + 1)
    decades = alt.Axis(values=[10.0**k for k in powers][:: max(1, len(powers) // 8)], format=".0e")
    title = alt.Title("Hand-derived NumPy vs PyTorch autograd", subtitle=f"a difference of 0 is drawn at {LOG_FLOOR:g}")
    bars = (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("quantity:N"),
            y=alt.Y("shown:Q", scale=alt.Scale(type="log"), title="max |NumPy − torch| (log)", axis=decades),
            y2="base:Q",
            color=alt.Color("quantity:N", title="gradient"),
            tooltip=[
                alt.Tooltip("layer:O"),
                alt.Tooltip("quantity:N", title="gradient"),
                alt.Tooltip("max_abs_diff:Q", title="max |difference|", format=".3~e"),
                alt.Tooltip("max_rel_diff:Q", title="max relative difference", format=".3~e"),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"eps": [eps], "label": [f"machine ε = {eps:.1e}"]}))
        .mark_rule(strokeDash=[6, 4], color="gray")
        .encode(y="eps:Q", tooltip=[alt.Tooltip("label:N", title="")])
    )
    return (bars + rule).properties(height=height)


def thin_steps(norms, max_points=MAX_POINTS):
    """Keep at most max_points steps per line (every k-th step), so long runs draw quickly."""
    steps = norms["step"].unique()
    if len(steps) <= max_points:
        return norms
    keep = steps[:: int(np.ceil(len(steps) / max_points))]
    return norms[norms["step"].isin(keep)]


def grad_norm_chart(norms, title, height=320, width="container"):
    """‖∂L/∂W^l‖ over training steps, one line per layer, log scale."""
    frame = _floored(thin_steps(norms), "grad_norm")
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=len(frame["step"].unique()) < 40)
        .encode(
            x=alt.X("step:Q", title="training step (mini-batch)"),
            y=alt.Y("shown:Q", scale=alt.Scale(type="log"), title="‖∂L/∂W‖ (log scale)"),
            color=alt.Color("layer:O", scale=LAYER_COLORS, title="layer (1 = input side)"),
            tooltip=[
                alt.Tooltip("step:Q"),
                alt.Tooltip("layer:O"),
                alt.Tooltip("grad_norm:Q", title="‖∂L/∂W‖", format=".3~e"),
            ],
        )
        .properties(height=height, width=width)
    )


def vanishing_chart(norms, labels, height=300, width=300):
    """Small multiples of ``grad_norm_chart``, one per activation, sharing the log y axis."""
    frame = norms.assign(name=norms["activation"].map(labels))
    order = [labels[a] for a in norms["activation"].unique()]
    return (
        grad_norm_chart(frame, title="", height=height, width=width)
        .facet(column=alt.Column("name:N", sort=order, title=None, header=alt.Header(labelFontSize=16)))
        .properties(
            title=alt.Title(
                "Gradient norms per layer during training, by activation",
                subtitle="same network, same initial weights, same mini-batches",
            )
        )
    )


def depth_profile_chart(norms, labels, step=1, height=300):
    """‖∂L/∂W^l‖ against the layer at one step, a line per activation: the slope is the vanishing."""
    frame = _floored(norms[norms["step"] == step], "grad_norm").assign(name=lambda f: f["activation"].map(labels))
    return (
        alt.Chart(
            frame, title=alt.Title("Gradient norm of every layer before training", subtitle=f"step {step}, log scale")
        )
        .mark_line(point=True)
        .encode(
            x=alt.X("layer:O", title="layer (1 = input side, last = output)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("shown:Q", scale=alt.Scale(type="log"), title="‖∂L/∂W‖ (log scale)"),
            color=alt.Color("name:N", title="activation", scale=alt.Scale(scheme="category10")),
            tooltip=[
                alt.Tooltip("name:N", title="activation"),
                alt.Tooltip("layer:O"),
                alt.Tooltip("grad_norm:Q", title="‖∂L/∂W‖", format=".3~e"),
            ],
        )
        .properties(height=height)
    )

"""Charts of the Backward page: δ per layer, gradient heatmaps, NumPy vs autograd, gradient norms."""

import altair as alt
import numpy as np
import pandas as pd

from app.charts.common import (
    NUMBER,
    activation_scale,
    distinct_scale,
    diverging_scale,
    log_domain,
    log_ticks,
    spread_labels,
    thin_steps,
)
from core.analysis.text.notation import layer_name
from core.analysis.traces.backward_trace import matrix_frame

LOG_FLOOR = 1e-20  # zeros drawn here on log scales
LABEL_GAP, MIN_LABEL_PX = 0.065, 15  # line names at least this share of the plot's height apart (and 15 px)
LEADER = 0.07  # the names sit this share of the x span right of the line ends, joined by a dotted leader
COMPARISON_COLUMNS = {  # the NumPy-vs-autograd table: column → what a student reads
    "layer": "layer",
    "quantity": "gradient",
    "shape": "shape",
    "max_abs_diff": "max |NumPy − autograd|",
    "max_rel_diff": "relative difference",
    "numpy_norm": "size ‖gradient‖",
    "finite": "finite",
}


def delta_chart(frame, height=300, pooled=False):
    """Heatmap of δ (``core.analysis.traces.backward_trace.delta_frame``): a row per layer (and per batch-norm step),
    in the order backpropagation computes them from the top, a cell per unit, colour δ / max|δ| of the row."""
    order = list(frame.sort_values("order")["row"].drop_duplicates())
    x_title = "block of units j, the largest |δ| shown (hover for the units)" if pooled else "unit j"
    return (
        alt.Chart(frame, title=alt.Title("δ = ∂L/∂z at every layer", subtitle="each row scaled by its own largest |δ|"))
        .mark_rect()
        .encode(
            x=alt.X("position:O", title=x_title, axis=_axis(frame["position"].max() + 1)),
            y=alt.Y("row:N", sort=order, title=None),
            color=alt.Color(
                "scaled:Q",
                scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True, clamp=True),
                title=["δ ÷ largest |δ|", "of its row"],
            ),
            tooltip=[
                alt.Tooltip("layer:N"),
                alt.Tooltip("quantity:N"),
                alt.Tooltip("units:N", title="unit(s) j"),
                alt.Tooltip("delta:Q", title="value", format=".4~e"),
                alt.Tooltip("layer_max:Q", title="largest |value| in the row", format=".3~e"),
            ],
        )
        .properties(height=height)
    )


def delta_norm_chart(norms, height=300):
    """Bars of ‖δˡ‖ per layer (``core.analysis.traces.backward_trace.delta_norms``) on a log scale."""
    frame = _floored(norms, "norm")
    ticks = log_ticks([*frame["shown"], *frame["base"]], max_ticks=4)
    order = list(frame.sort_values("l", ascending=False)["layer"])
    return (
        alt.Chart(frame, title=alt.Title("Size of δ", subtitle="‖δˡ‖ per layer"))
        .mark_bar()
        .encode(
            y=alt.Y("layer:N", sort=order, title=None),
            x=alt.X(
                "shown:Q",
                scale=alt.Scale(type="log", domain=log_domain(ticks)),
                title="‖δ‖ (log scale)",
                axis=alt.Axis(values=ticks, format="~g"),
            ),
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
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("col:O", title=x_title, axis=_axis(frame["col"].max() + 1, c)),
        y=alt.Y("row:O", title=y_title, axis=_axis(frame["row"].max() + 1, r)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q", scale=diverging_scale(frame["value"]), title=value_title, legend=alt.Legend(format=NUMBER)
        ),
        tooltip=[
            alt.Tooltip("rows:N", title=y_title or "row"),
            alt.Tooltip("cols:N", title=x_title or "column"),
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


def comparison_table(cmp, n_layers):
    """The NumPy-vs-autograd table (``compare_with_autograd``) as a student reads it: layers by name, the
    columns renamed (``COMPARISON_COLUMNS``), the torch norm left out (it equals the NumPy one)."""
    shown = cmp.assign(layer=[layer_name(l, n_layers) for l in cmp["layer"]])
    return shown[list(COMPARISON_COLUMNS)].rename(columns=COMPARISON_COLUMNS)


def difference_chart(cmp, eps, height=300):
    """Bars of max |NumPy − autograd| per layer and quantity, log scale, with machine ε as a labelled rule."""
    frame = _floored(cmp, "max_abs_diff")
    ticks = log_ticks([*frame["shown"], *frame["base"], eps], max_ticks=6)
    y = alt.Y(
        "shown:Q",
        scale=alt.Scale(type="log", domain=log_domain(ticks)),
        title="max |NumPy − autograd|",
        axis=alt.Axis(values=ticks, format="~e"),
    )
    title = alt.Title(
        "NumPy vs autograd: largest difference", subtitle=f"log scale; a difference of 0 is drawn at {LOG_FLOOR:g}"
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("quantity:N"),
            y=y,
            y2="base:Q",
            color=alt.Color("quantity:N", title="gradient", scale=distinct_scale(frame["quantity"].unique())),
            tooltip=[
                alt.Tooltip("layer:O"),
                alt.Tooltip("quantity:N", title="gradient"),
                alt.Tooltip("max_abs_diff:Q", title="max |difference|", format=".3~e"),
                alt.Tooltip("max_rel_diff:Q", title="max relative difference", format=".3~e"),
            ],
        )
    )
    eps_frame = pd.DataFrame({"shown": [eps], "label": [f"machine ε = {eps:.1e}"]})
    rule = alt.Chart(eps_frame).mark_rule(strokeDash=[6, 4], color="#444", strokeWidth=2).encode(y=y)
    text = (
        alt.Chart(eps_frame)
        .mark_text(align="right", baseline="bottom", dy=-3, x="width", dx=-2, color="#444")
        .encode(y=y, text="label:N")
    )
    return alt.layer(bars, rule, text, title=title).properties(height=height)


def _labelled_lines(frame, x, y, x_field, series_field, scale, series_title, ticks, height, panel=None):
    """Lines in clearly different hues, each named by text at its right end (no legend lookup needed).

    Names that would overlap (lines ending close together on the log axis spanning ``ticks``) are spread apart,
    at least ``LABEL_GAP`` of the plot's ``height`` from each other within each ``panel`` (a facet column), and
    joined to their line's end by a thin leader. Returns (lines, leaders, names, data): layers without data, and
    the one frame they share (a facet needs one), the lines' rows with role "line" and one row per name with role
    "label" (x and ``shown`` where the name sits, ``end_x``, ``end_y`` the line's end).
    """
    groups = [panel] if panel else []
    frame = frame.reset_index(drop=True)
    ends = frame.loc[frame.groupby([*groups, series_field])[x_field].idxmax()]
    ends = ends[np.isfinite(ends["shown"])]  # a line that ends in NaN or ∞ has no place on the axis
    lo, hi = np.log10(min(ticks)), np.log10(max(ticks))
    gap = max(LABEL_GAP * height, MIN_LABEL_PX) / height * (hi - lo)  # in decades
    spread = [
        pd.Series(spread_labels(np.log10(g["shown"]), gap, lo + gap / 2, hi - gap / 2), index=g.index)
        for _, g in (ends.groupby(groups) if groups else [(None, ends)])
    ]
    stub = LEADER * max(float(frame[x_field].max() - frame[x_field].min()), 1.0)
    labels = ends.assign(
        role="label",
        end_x=ends[x_field],
        end_y=ends["shown"],
        shown=10.0 ** pd.concat(spread),
        **{x_field: ends[x_field] + stub},
    )
    data = pd.concat([frame.assign(role="line"), labels], ignore_index=True)
    base = alt.Chart().encode(x=x, y=y, color=alt.Color(f"{series_field}:N", scale=scale, title=series_title))
    lines = base.transform_filter(alt.datum.role == "line").mark_line(point=frame[x_field].nunique() < 40)
    at_label = base.transform_filter(alt.datum.role == "label")
    leaders = at_label.mark_rule(strokeWidth=1, strokeDash=[2, 2]).encode(x2="end_x:Q", y2="end_y:Q")  # not data
    names = at_label.mark_text(align="left", dx=3, fontWeight="bold").encode(text=f"{series_field}:N")
    return lines, leaders, names, data


def _room_for_labels(values, share=0.25):
    """A domain for a linear x axis from the first to the last value plus ``share`` of the span for end labels."""
    lo, hi = float(np.min(values)), float(np.max(values))
    return [lo, hi + share * max(hi - lo, 1.0)]


def grad_norm_chart(norms, title, height=320, width="container", panel=None):
    """‖∂L/∂W⁽ˡ⁾‖ over training steps, one line per layer (distinct hues, named at its end), log scale.

    ``panel``: the column the caller facets by (the names are spread apart within each panel).
    """
    frame = _floored(thin_steps(norms, by="layer"), "grad_norm").assign(
        name=lambda f: "layer " + f["layer"].astype(str)
    )
    ticks = log_ticks(frame["shown"])
    last = int(frame["step"].max())  # no tick labels in the room left for the line names
    x = alt.X(
        "step:Q",
        title="training step (mini-batch)",
        scale=alt.Scale(domain=_room_for_labels(frame["step"]), nice=False),
        axis=alt.Axis(tickMinStep=1, format="d", labelExpr=f"datum.value <= {last} ? datum.label : ''"),
    )
    y = alt.Y(
        "shown:Q",
        scale=alt.Scale(type="log", domain=log_domain(ticks)),
        title="‖∂L/∂W‖ (log scale)",
        axis=alt.Axis(values=ticks, format="~g"),
    )
    names = [f"layer {l}" for l in sorted(frame["layer"].unique())]
    lines, leaders, labels, data = _labelled_lines(
        frame, x, y, "step", "name", distinct_scale(names), "layer (1 = input side)", ticks, height, panel
    )
    tooltip = [
        alt.Tooltip("step:Q"),
        alt.Tooltip("name:N", title="layer"),
        alt.Tooltip("grad_norm:Q", title="‖∂L/∂W‖", format=".3~e"),
    ]
    chart = alt.layer(lines.encode(tooltip=tooltip), leaders, labels, data=data)
    return chart.properties(title=title, height=height, width=width)


def vanishing_chart(norms, labels, height=300, width=300):
    """Small multiples of ``grad_norm_chart``, one per activation, sharing the log y axis."""
    frame = norms.assign(activation_name=norms["activation"].map(labels))
    order = [labels[a] for a in norms["activation"].unique()]
    return (
        grad_norm_chart(frame, title="", height=height, width=width, panel="activation_name")
        .facet(column=alt.Column("activation_name:N", sort=order, title=None))
        .properties(
            title=alt.Title(
                "Gradient norms per layer during training, by activation",
                subtitle="same network, same initial weights, same mini-batches",
            )
        )
    )


def depth_profile_chart(norms, labels, step=1, height=300):
    """‖∂L/∂W⁽ˡ⁾‖ against the layer at one step, a line per activation (named at its end): the slope is the
    vanishing."""
    frame = _floored(norms[norms["step"] == step], "grad_norm").assign(name=lambda f: f["activation"].map(labels))
    ticks = log_ticks(frame["shown"])
    layers = list(range(1, int(frame["layer"].max()) + 1))
    x = alt.X(
        "layer:Q",
        title="layer (1 = input side, last = output)",
        axis=alt.Axis(values=layers, format="d"),
        scale=alt.Scale(domain=_room_for_labels(frame["layer"], 0.3), nice=False),
    )
    y = alt.Y(
        "shown:Q",
        scale=alt.Scale(type="log", domain=log_domain(ticks)),
        title="‖∂L/∂W‖ (log scale)",
        axis=alt.Axis(values=ticks, format="~g"),
    )
    shown = {a: labels[a] for a in frame["activation"].unique()}
    lines, leaders, names, data = _labelled_lines(
        frame, x, y, "layer", "name", activation_scale(shown), "activation", ticks, height
    )
    tooltip = [
        alt.Tooltip("name:N", title="activation"),
        alt.Tooltip("layer:Q"),
        alt.Tooltip("grad_norm:Q", title="‖∂L/∂W‖", format=".3~e"),
    ]
    title = alt.Title("Gradient norm of every layer before training", subtitle=f"step {step}, log scale")
    return alt.layer(lines.encode(tooltip=tooltip), leaders, names, data=data).properties(title=title, height=height)

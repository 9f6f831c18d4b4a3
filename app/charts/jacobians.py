"""Charts of the Jacobians page: a module's Jacobian three ways, the whole net's Jacobian, saliency maps, spectra."""

import altair as alt
import numpy as np
import pandas as pd

from app.charts.common import LOG_LABELS, activation_scale, diverging_scale, log_domain, log_ticks
from core.analysis.jacobians.modules import METHOD_LABELS
from core.analysis.traces.backward_trace import MAX_CELLS, matrix_frame

LOG_FLOOR = 1e-18  # a singular value of 0 is drawn here on the log axis


def jacobian_frame(jacobians, max_cells=MAX_CELLS):
    """Long form of {method: J} for ``jacobian_heatmaps``, each pooled to max_cells × max_cells blocks.

    Columns: method (its label), row, col, rows, cols, value. Returns (frame, (r, c)) with the block size.
    """
    frames = [matrix_frame(J, max_cells) for J in jacobians.values()]
    frame = pd.concat([f.assign(method=METHOD_LABELS[m]) for m, (f, _) in zip(jacobians, frames)], ignore_index=True)
    return frame, frames[0][1]


def jacobian_heatmaps(frame, title, x_title, y_title, cell=220):
    """One heatmap per method side by side, a shared colour scale centred on zero (blue < 0 < red)."""
    order = [label for label in METHOD_LABELS.values() if label in set(frame["method"])]
    base = alt.Chart(frame).encode(
        x=alt.X("col:O", title=x_title, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("row:O", title=y_title, axis=alt.Axis(labels=False, ticks=False)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=diverging_scale(frame["value"]), title="∂out/∂in"),
        tooltip=[
            alt.Tooltip("method:N", title="computed by"),
            alt.Tooltip("rows:N", title=y_title),
            alt.Tooltip("cols:N", title=x_title),
            alt.Tooltip("value:Q", title="J", format=".6~g"),
        ],
    )
    return (
        cells.properties(width=cell, height=cell)
        .facet(column=alt.Column("method:N", sort=order, title=None, header=alt.Header(labelFontSize=15)))
        .properties(title=title)
    )


def network_heatmap(J, class_names, x_title, height=260):
    """The input-output Jacobian (C, D): a row per class k, a column per input (pooled beyond MAX_CELLS)."""
    frame, (_, c) = matrix_frame(J)
    frame["class"] = np.asarray(class_names)[frame["row"]]
    pooled = ", each cell the largest |entry| of a block" if c > 1 else ""
    base = alt.Chart(
        frame, title=alt.Title("∂output/∂input of the whole network", subtitle=f"one row per class{pooled}")
    )
    cells = base.mark_rect().encode(
        x=alt.X("col:O", title=x_title, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("class:N", sort=list(class_names), title="class k"),
        color=alt.Color("value:Q", scale=diverging_scale(frame["value"]), title="∂outₖ/∂xᵢ"),
        tooltip=[
            alt.Tooltip("class:N", title="class k"),
            alt.Tooltip("cols:N", title="input(s) i"),
            alt.Tooltip("value:Q", title="∂outₖ/∂xᵢ", format=".4~e"),
        ],
    )
    return cells.properties(height=height)


def saliency_chart(frame, cell=110, columns=5):
    """Each class's row of the Jacobian on the image's grid (``saliency_frame``), colour centred on zero."""
    order = list(dict.fromkeys(frame["class"]))
    cells = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("col:O", axis=None),
            y=alt.Y("row:O", axis=None),
            color=alt.Color("value:Q", scale=diverging_scale(frame["value"]), title="∂outₖ/∂pixel"),
            tooltip=[
                alt.Tooltip("class:N", title="class k"),
                alt.Tooltip("row:O", title="pixel row"),
                alt.Tooltip("col:O", title="pixel column"),
                alt.Tooltip("value:Q", title="∂outₖ/∂pixel", format=".4~e"),
            ],
        )
        .properties(width=cell, height=cell)
    )
    title = alt.Title("Saliency: which pixels move each class", subtitle="row k of the Jacobian on the image's grid")
    facet = alt.Facet("class:N", sort=order, title=None, header=alt.Header(labelExpr="'class ' + datum.value"))
    return cells.facet(facet=facet, columns=columns).properties(title=title)


def _floored(frame):
    """``frame`` with ``shown`` (the singular value, 0 drawn at LOG_FLOOR) and ``base``, a power of ten below
    every value, where the log-scale bars start (a log axis has no 0)."""
    shown = frame["singular_value"].clip(lower=LOG_FLOOR)
    return frame.assign(shown=shown, base=10.0 ** (np.floor(np.log10(shown.min())) - 1) if len(shown) else LOG_FLOOR)


def _sigma_axis(data, title):
    """The log y of singular values: 1-2-5 or decade ticks from the bars' base to the largest σ."""
    ticks = log_ticks([*data["shown"], *data["base"]])
    return alt.Y(
        "shown:Q",
        title=title,
        scale=alt.Scale(type="log", domain=log_domain(ticks)),
        axis=alt.Axis(values=ticks, labelExpr=LOG_LABELS),
    )


def singular_value_chart(frame, series, title, subtitle, height=260, colors=None):
    """Bars of σₖ on a log axis, one bar per ``series`` value side by side at each k (``singular_value_frame``)."""
    color = alt.Color(
        f"{series}:N", title=None, sort=list(dict.fromkeys(frame[series])), legend=alt.Legend(orient="top")
    )
    if colors is not None:
        color = color.scale(colors)
    data = _floored(frame)
    base = alt.Chart(data, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X("k:O", title="k (largest first)", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset(f"{series}:N", sort=list(dict.fromkeys(frame[series]))),
        tooltip=[
            alt.Tooltip(f"{series}:N"),
            alt.Tooltip("k:O"),
            alt.Tooltip("singular_value:Q", title="σₖ", format=".4~e"),
        ],
    )
    bars = base.mark_bar().encode(y=_sigma_axis(data, "singular value σₖ (log)"), y2="base:Q", color=color)
    return bars.properties(height=height)


def spectrum_grid_chart(frame, labels, height=220, width=220):
    """``singular_value_chart`` per depth (``spectrum_by_architecture``), sharing the log axis.

    ``labels``: activation → the name shown (e.g. "relu" → "ReLU"); each keeps its colour of every chart.
    """
    data = _floored(frame).assign(activation=lambda f: f["activation"].map(labels))
    shown = {a: labels[a] for a in dict.fromkeys(frame["activation"])}
    order = list(shown.values())
    base = alt.Chart(data).encode(
        x=alt.X("k:O", title="k", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("activation:N", sort=order),
        tooltip=[
            alt.Tooltip("activation:N"),
            alt.Tooltip("depth:O", title="hidden layers"),
            alt.Tooltip("k:O"),
            alt.Tooltip("singular_value:Q", title="σₖ", format=".4~e"),
        ],
    )
    bars = base.mark_bar().encode(
        y=_sigma_axis(data, "singular value σₖ (log)"),
        y2="base:Q",
        color=alt.Color("activation:N", sort=order, title="activation", scale=activation_scale(shown)),
    )
    title = alt.Title(
        "Singular values at initialization, by depth", subtitle="same seed and weights, activation varied"
    )
    column = alt.Column(
        "depth:O",
        title=None,
        header=alt.Header(labelExpr="datum.value + (datum.value == 1 ? ' hidden layer' : ' hidden layers')"),
    )
    return bars.properties(height=height, width=width).facet(column=column).properties(title=title)

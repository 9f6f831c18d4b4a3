"""Charts of the Batch norm page: activation histograms, dead and saturated units, convergence, learning rates."""

import altair as alt
import pandas as pd

from core.analysis.batchnorm.study import RUNS

RUN_COLORS = alt.Scale(domain=list(RUNS), range=["#d62728", "#1f77b4"])
EPOCH_AXIS = alt.Axis(tickMinStep=1, format="d")  # whole epochs only, also on a run of one or two epochs
QUANTITY_TITLES = {
    "pre-activation": "what the activation receives (z, or batch norm's output)",
    "post-activation": "a = f(·), the layer's output",
}


def histogram_chart(counts, epoch, quantity, height=110, width=330):
    """Small multiples: a row per hidden layer, a column per run (without / with batch norm); bars at ``epoch``,
    the outline the first recorded epoch, each cell (``width`` × ``height`` px) with its own axes.

    Every bin is a row of ``counts`` (empty ones too), so a cell's x axis spans its bin edges at every epoch:
    with counts from ``histograms`` both runs of a layer share them, with ``histograms(by_run=True)`` each run
    has its own. A drifting distribution moves along a fixed axis.
    """
    q = counts[counts["quantity"] == quantity]
    first = q["epoch"].min()
    frame = pd.concat([q[q["epoch"] == epoch].assign(shown="now"), q[q["epoch"] == first].assign(shown="start")])
    base = alt.Chart(frame.drop(columns="quantity")).encode(
        x=alt.X(
            "bin_start:Q",
            title="value",
            scale=alt.Scale(nice=False, zero=False),
            axis=alt.Axis(labelSeparation=8, labelFlush=True),
        ),  # wide ranges: fewer labels, never touching
        x2="bin_end:Q",
        y=alt.Y("share:Q", title="share of values", axis=alt.Axis(format="%")),
        y2=alt.datum(0),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("layer:O", title="Hidden layer"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("bin_start:Q", title="From", format=".3~g"),
            alt.Tooltip("bin_end:Q", title="To", format=".3~g"),
            alt.Tooltip("count:Q", title="Values"),
            alt.Tooltip("share:Q", title="Share", format=".1%"),
        ],
    )
    bars = (
        base.transform_filter(alt.datum.shown == "now")
        .mark_bar(opacity=0.8, binSpacing=0)
        .encode(color=alt.Color("run:N", scale=RUN_COLORS, title="Run", legend=alt.Legend(orient="top")))
    )
    outline = base.transform_filter(alt.datum.shown == "start").mark_bar(
        fillOpacity=0, stroke="#333", strokeWidth=1, binSpacing=0
    )
    subtitle = f"{QUANTITY_TITLES[quantity]}; bars: epoch {epoch}, outline: epoch {first}; validation set, eval mode"
    return (
        alt.layer(bars, outline)
        .properties(height=height, width=width)
        .facet(
            row=alt.Row("layer:O", title="hidden layer", header=alt.Header(labelAngle=0)),
            column=alt.Column("run:N", sort=list(RUNS), title=None),
        )
        .resolve_scale(x="independent", y="independent")
        .properties(title=alt.Title(f"Histograms of every hidden layer at epoch {epoch}", subtitle=subtitle))
    )


def health_chart(health, height=260):
    """Dead or saturated units (or values) over training, a line per hidden layer and measure, a panel per run;
    one y axis, 0–100 %."""
    base = alt.Chart(health).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=EPOCH_AXIS),
        y=alt.Y("fraction:Q", title="share of the layer", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("layer:O", scale=alt.Scale(scheme="viridis"), title="Hidden layer"),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("layer:O", title="Hidden layer"),
            alt.Tooltip("measure:N", title="Measure"),
            alt.Tooltip("fraction:Q", title="Share", format=".1%"),
        ],
    )
    line = base.mark_line(strokeWidth=2.5).encode(strokeDash=alt.StrokeDash("measure:N", title="Measure"))
    points = base.mark_point(filled=True, size=30)
    return (
        alt.layer(line, points)
        .properties(height=height)
        .facet(column=alt.Column("run:N", sort=list(RUNS), title=None))
        .properties(title=alt.Title("Dead and saturated units during training", subtitle="validation set, eval mode"))
    )


def _metric_panel(frame, metric, height):
    loss = metric == "loss"
    y_scale = alt.Scale(type="log") if loss else alt.Scale(domain=[0, 1])
    base = alt.Chart(frame).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=EPOCH_AXIS),
        y=alt.Y("value:Q", title="Loss (log scale)" if loss else "Validation accuracy", scale=y_scale),
        color=alt.Color("run:N", scale=RUN_COLORS, title="Run"),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("split:N", title="Data"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("value:Q", title="Loss" if loss else "Accuracy", format=".4f"),
        ],
    )
    line = base.mark_line(strokeWidth=2.5)
    if loss:
        line = line.encode(strokeDash=alt.StrokeDash("split:N", title="Data"))
    points = base.mark_point(filled=True, size=40)
    title = "Loss per epoch (solid: training, dashed: validation)" if loss else "Validation accuracy per epoch"
    return alt.layer(line, points).properties(title=title, height=height)


def convergence_chart(history, height=280):
    """Loss (training and validation, log axis) and validation accuracy per epoch, both runs on each panel."""
    loss = history[(history["metric"] == "loss") & (history["value"] > 0)]
    acc = history[(history["metric"] == "accuracy") & (history["split"] == "validation")]
    return alt.hconcat(_metric_panel(loss, "loss", height), _metric_panel(acc, "accuracy", height)).resolve_scale(
        color="shared"
    )


def lr_chart(sweep, n_classes, height=300):
    """Final validation accuracy against the learning rate (log axis), a line per run; crosses mark runs
    that diverged (they count with their last finite accuracy), the dashed rule is chance (1 / classes)."""
    frame = sweep.assign(outcome=sweep["diverged"].map({True: "diverged", False: "finished"}))
    base = alt.Chart(frame).encode(
        x=alt.X("lr:Q", title="Learning rate (log scale)", scale=alt.Scale(type="log"), axis=alt.Axis(format="~g")),
        y=alt.Y("val_accuracy:Q", title="Final validation accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("run:N", scale=RUN_COLORS, title="Run"),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("lr:Q", title="Learning rate", format="~g"),
            alt.Tooltip("val_accuracy:Q", title="Validation accuracy", format=".3f"),
            alt.Tooltip("epochs_done:Q", title="Epochs trained"),
            alt.Tooltip("outcome:N", title="Run"),
        ],
    )
    line = base.mark_line(strokeWidth=2.5)
    points = base.mark_point(filled=True, size=90).encode(
        shape=alt.Shape(
            "outcome:N", scale=alt.Scale(domain=["finished", "diverged"], range=["circle", "cross"]), title="Outcome"
        )
    )
    chance = pd.DataFrame({"chance": [1 / n_classes], "label": [f"chance: 1/{n_classes}"]})
    rule = (
        alt.Chart(chance)
        .mark_rule(strokeDash=[6, 4], color="gray")
        .encode(y="chance:Q", tooltip=[alt.Tooltip("label:N", title="")])
    )
    return alt.layer(line, points, rule).properties(
        title=alt.Title("Learning-rate sensitivity", subtitle="final validation accuracy, same initial weights"),
        height=height,
    )

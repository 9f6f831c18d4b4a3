"""Charts of a training run: learning curves, decision regions, confusion matrix."""

import altair as alt
import pandas as pd

from app.charts.common import class_scale, log_domain, log_ticks, series_scale, thin_steps

METRIC_TITLES = {"loss": "Cross-entropy loss", "accuracy": "Accuracy"}
SERIES = {"train": "train (epoch mean)", "validation": "validation"}  # history's split → legend entry
SPLIT_SHAPES = {"train": "circle", "test": "triangle-up"}
CLASS_TITLE = ["Class (region:", "predicted; point:", "true)"]
LOSS_CLIP = 10  # the loss axis ends near 10 × the first loss; larger losses (a diverging run) sit on its top edge
CLIPPED = "#c2272d"  # the ▲ of a loss beyond the axis


def curve_frame(history, metric, steps=None, steps_per_epoch=1):
    """The points of a learning curve, long form: epoch (fractional for mini-batches), series, value, step.

    series is "mini-batch" (the loss of each step, at epoch = step / steps per epoch; of a long run every
    k-th step, ``thin_steps``), "train (epoch mean)" or "validation"; the loss keeps only values > 0 (a log
    axis has no 0).
    """
    h = history[history.metric == metric]
    frame = pd.DataFrame(
        {
            "epoch": h.epoch.astype(float),
            "series": h.split.map(SERIES),
            "value": h.value,
            "step": h.epoch * steps_per_epoch,
        }
    )
    if steps is not None and metric == "loss" and len(steps):
        steps = thin_steps(steps)
        batch = pd.DataFrame(
            {"epoch": steps.step / steps_per_epoch, "series": "mini-batch", "value": steps.loss, "step": steps.step}
        )
        frame = pd.concat([batch, frame], ignore_index=True)
    return frame[frame.value > 0] if metric == "loss" else frame


def clip_losses(frame, factor=LOSS_CLIP):
    """``frame`` (``curve_frame`` of the loss) with ``shown``: the loss, or ``top`` where it is larger; and ``top``.

    ``top`` is the first 1-2-5 tick at or above ``factor`` × the first loss, or None when no loss exceeds that:
    a diverging run's losses (1e+239 …) would otherwise squash every other point onto the axis' bottom.
    """
    if not len(frame):
        return frame.assign(shown=frame.value), None
    first = float(frame.sort_values(["epoch", "step"]).value.iloc[0])
    cap = factor * first
    if not (frame.value > cap).any():
        return frame.assign(shown=frame.value), None
    top = min(t for t in log_ticks([cap]) if t >= cap * (1 - 1e-9))
    return frame.assign(shown=frame.value.clip(upper=top)), top


def learning_curve(history, metric, height=300, steps=None, steps_per_epoch=1):
    """Per-epoch train and validation ``metric`` (history in long form: epoch, split, metric, value).

    With ``steps`` (step, loss) the mini-batch losses are drawn faintly behind the loss curve, with
    their own legend entry. The epoch axis has whole-epoch ticks; the loss axis is logarithmic with
    1-2-5 (or decade) ticks and ends near ``LOSS_CLIP`` × the first loss: larger losses (a diverging
    run) are drawn on the top edge as ▲, their value in the tooltip, and the subtitle says so.
    """
    title = METRIC_TITLES[metric]
    frame = curve_frame(history, metric, steps, steps_per_epoch)
    frame, top = clip_losses(frame) if metric == "loss" else (frame.assign(shown=frame.value), None)
    series = [s for s in ("mini-batch", *SERIES.values()) if s in set(frame.series)]
    if metric == "loss":
        ticks = log_ticks(frame.shown)
        y_scale, y_axis = alt.Scale(type="log", domain=log_domain(ticks)), alt.Axis(values=ticks, format="~g")
    else:
        y_scale, y_axis = alt.Scale(domain=[0, 1]), alt.Axis(format="~%", tickCount=5)
    last = max(1, int(frame.epoch.max())) if len(frame) else 1
    x = alt.X(
        "epoch:Q",
        title="Epoch",
        scale=alt.Scale(domain=[0, last], nice=False),
        axis=alt.Axis(tickMinStep=1, format="d", tickCount=min(last, 10)),
    )
    base = alt.Chart(frame).encode(
        x=x,
        y=alt.Y("shown:Q", title="Loss (log scale)" if metric == "loss" else title, scale=y_scale, axis=y_axis),
        color=alt.Color("series:N", scale=series_scale(series), title=None, legend=alt.Legend(orient="top")),
        tooltip=[
            alt.Tooltip("series:N", title="Curve"),
            alt.Tooltip("epoch:Q", title="Epoch", format=".2~f"),
            alt.Tooltip("step:Q", title="Step"),
            alt.Tooltip("value:Q", title=title, format=".4~g"),
        ],
    )
    batch = base.transform_filter(alt.datum.series == "mini-batch").mark_line(opacity=0.45, strokeWidth=1)
    epochs = base.transform_filter(alt.datum.series != "mini-batch")
    line = epochs.mark_line(strokeWidth=3)
    points = epochs.mark_point(filled=True, size=50)
    layers = [batch, line, points]
    chart_title = f"{title} per epoch"
    if top is not None:
        beyond = (
            base.transform_filter(alt.datum.value > top)
            .mark_point(shape="triangle-up", filled=True, size=90, opacity=1)
            .encode(color=alt.value(CLIPPED))
        )
        layers.append(beyond)
        chart_title = alt.Title(chart_title, subtitle=f"losses above {top:g} ({LOSS_CLIP}× the first) as ▲ at the top")
    return alt.layer(*layers).properties(title=chart_title, height=height)


def decision_regions(grid, points, class_names, height=420):
    """Decision regions of the network (cells coloured by predicted class, faded by confidence),
    with the data points on top (circles: training, triangles: test), in the features' own units x₀, x₁.

    Cells where the network's output is not finite (``grid.finite`` false) are left blank.
    """
    colors = class_scale(class_names)
    x_scale = alt.Scale(domain=[grid.x0.min(), grid.x0_end.max()], nice=False)
    y_scale = alt.Scale(domain=[grid.x1.min(), grid.x1_end.max()], nice=False)
    cells = (
        alt.Chart(grid[grid.finite])
        .mark_rect()
        .encode(
            x=alt.X("x0:Q", title="x₀", scale=x_scale, axis=alt.Axis(tickCount=6)),
            x2="x0_end:Q",
            y=alt.Y("x1:Q", title="x₁", scale=y_scale, axis=alt.Axis(tickCount=8)),
            y2="x1_end:Q",
            color=alt.Color("predicted:N", scale=colors, title=CLASS_TITLE),
            opacity=alt.Opacity(
                "confidence:Q",
                scale=alt.Scale(domain=[1 / len(class_names), 1], range=[0.05, 0.55]),
                title="Confidence",
                legend=alt.Legend(format=".0%", values=[0.6, 0.8, 1.0]),
            ),
            tooltip=[
                alt.Tooltip("predicted:N", title="Predicted"),
                alt.Tooltip("confidence:Q", format=".3f", title="Confidence"),
            ],
        )
    )
    splits = [s for s in SPLIT_SHAPES if s in set(points.split)]  # only the splits drawn appear in the legend
    shapes = alt.Scale(domain=splits, range=[SPLIT_SHAPES[s] for s in splits])
    dots = (
        alt.Chart(points)
        .mark_point(filled=True, size=60, stroke="black", strokeWidth=0.8, opacity=1)
        .encode(
            x=alt.X("x0:Q", scale=x_scale),
            y=alt.Y("x1:Q", scale=y_scale),
            color=alt.Color("class:N", scale=colors, title=CLASS_TITLE),  # one legend with the regions' colours
            shape=alt.Shape("split:N", scale=shapes, title="Points"),
            tooltip=[
                alt.Tooltip("class:N", title="True class"),
                alt.Tooltip("split:N", title="Split"),
                alt.Tooltip("x0:Q", title="x₀", format=".2f"),
                alt.Tooltip("x1:Q", title="x₁", format=".2f"),
            ],
        )
    )
    return alt.layer(cells, dots).properties(title="Decision regions and data", height=height)


def confusion_heatmap(cm, height=380):
    """Confusion matrix: rows the true class, columns the predicted one, colour the row share."""
    order = list(pd.unique(cm["true"]))
    base = alt.Chart(cm).encode(
        x=alt.X("predicted:N", sort=order, title="Predicted class", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:N", sort=order, title="True class"),
        tooltip=[
            alt.Tooltip("true:N", title="True"),
            alt.Tooltip("predicted:N", title="Predicted"),
            alt.Tooltip("count:Q", title="Test samples"),
            alt.Tooltip("share_of_true:Q", title="Share of row", format=".1%"),
        ],
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "share_of_true:Q",
            scale=alt.Scale(scheme="blues", domain=[0, 1]),
            title="Share of true class",
            legend=alt.Legend(format="~%"),
        )
    )
    text = base.mark_text().encode(
        text="count:Q", color=alt.condition("datum.share_of_true > 0.5", alt.value("white"), alt.value("black"))
    )
    return alt.layer(cells, text).properties(title="Confusion matrix on the test set", height=height)

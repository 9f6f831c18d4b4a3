"""Charts of a training run: learning curves, decision regions, confusion matrix."""

import altair as alt
import pandas as pd

from app.charts.common import SPLIT_COLORS, class_scale

METRIC_TITLES = {"loss": "Cross-entropy loss", "accuracy": "Accuracy"}


def learning_curve(history, metric, height=300, steps=None, steps_per_epoch=1):
    """Per-epoch train and validation ``metric`` (history in long form: epoch, split, metric, value).

    With ``steps`` (step, loss) the mini-batch losses are drawn faintly behind the loss curve.
    """
    title = METRIC_TITLES[metric]
    frame = history[(history.metric == metric) & (history.value > 0 if metric == "loss" else True)]
    # Every layer names the same y scale: a layer left linear would pull 0 into the log domain.
    y_scale = alt.Scale(type="log") if metric == "loss" else alt.Scale(domain=[0, 1])
    y_title = "Loss (log scale)" if metric == "loss" else title  # short: a long rotated title squeezes the plot
    base = alt.Chart(frame).encode(
        x=alt.X("epoch:Q", title="Epoch", scale=alt.Scale(domainMin=0)),
        y=alt.Y("value:Q", title=y_title, scale=y_scale),
        color=alt.Color("split:N", scale=SPLIT_COLORS, title="Data"),
        tooltip=[
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("split:N", title="Data"),
            alt.Tooltip("value:Q", title=title, format=".4f"),
        ],  # fmt: skip
    )
    line = base.mark_line(strokeWidth=3)
    points = base.mark_point(filled=True, size=50)
    layers = [line, points]
    if steps is not None and metric == "loss" and len(steps):
        s = steps[steps.loss > 0].assign(epoch=steps.step / steps_per_epoch)  # a log axis has no 0
        batch = alt.Chart(s).mark_line(opacity=0.25, strokeWidth=1, color="#555").encode(
            x="epoch:Q", y=alt.Y("loss:Q", title=y_title, scale=y_scale),
            tooltip=[alt.Tooltip("step:Q", title="Step"), alt.Tooltip("loss:Q", title="Mini-batch loss", format=".4f")],
        )  # fmt: skip
        layers.insert(0, batch)
    return alt.layer(*layers).properties(title=f"{title} per epoch", height=height)


def decision_regions(grid, points, class_names, height=420):
    """Decision regions of the network (cells coloured by predicted class, faded by confidence),
    with the data points on top (circles: training, triangles: test)."""
    colors = class_scale(class_names)
    cells = alt.Chart(grid).mark_rect().encode(
        x=alt.X("x1:Q", title="x₁", scale=alt.Scale(domain=[grid.x1.min(), grid.x1_end.max()], nice=False)),
        x2="x1_end:Q",
        y=alt.Y("x2:Q", title="x₂", scale=alt.Scale(domain=[grid.x2.min(), grid.x2_end.max()], nice=False)),
        y2="x2_end:Q",
        color=alt.Color("predicted:N", scale=colors, title="Class"),
        opacity=alt.Opacity("confidence:Q", scale=alt.Scale(domain=[1 / len(class_names), 1], range=[0.05, 0.55]),
                            title="Confidence"),  # fmt: skip
        tooltip=[alt.Tooltip("predicted:N", title="Predicted"), alt.Tooltip("confidence:Q", format=".3f", title="Confidence")],
    )  # fmt: skip
    dots = alt.Chart(points).mark_point(filled=True, size=60, stroke="black", strokeWidth=0.8, opacity=1).encode(
        x="x1:Q", y="x2:Q",
        color=alt.Color("class:N", scale=colors, legend=None),
        shape=alt.Shape("split:N", scale=alt.Scale(domain=["train", "test"], range=["circle", "triangle-up"]), title="Points"),
        tooltip=[alt.Tooltip("class:N", title="True class"), alt.Tooltip("split:N", title="Split"),
                 alt.Tooltip("x1:Q", format=".2f"), alt.Tooltip("x2:Q", format=".2f")],
    )  # fmt: skip
    return alt.layer(cells, dots).properties(title="Decision regions and data", height=height)


def confusion_heatmap(cm, height=380):
    """Confusion matrix: rows the true class, columns the predicted one, colour the row share."""
    order = list(pd.unique(cm["true"]))
    base = alt.Chart(cm).encode(
        x=alt.X("predicted:N", sort=order, title="Predicted class"),
        y=alt.Y("true:N", sort=order, title="True class"),
        tooltip=[alt.Tooltip("true:N", title="True"), alt.Tooltip("predicted:N", title="Predicted"),
                 alt.Tooltip("count:Q", title="Test images"), alt.Tooltip("share_of_true:Q", title="Share of row", format=".1%")],
    )  # fmt: skip
    cells = base.mark_rect().encode(
        color=alt.Color("share_of_true:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="Share of true class")
    )
    text = base.mark_text(fontSize=13).encode(
        text="count:Q", color=alt.condition("datum.share_of_true > 0.5", alt.value("white"), alt.value("black"))
    )
    return alt.layer(cells, text).properties(title="Confusion matrix on the test set", height=height)

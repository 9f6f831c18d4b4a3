"""Charts of the Course questions page: one per answer, drawn from its tidy frame (and, where a rule marks a
measured value, its figures). Charts another page already draws are reused from that page's module."""

import altair as alt
import pandas as pd

from app.charts.backends import loss_difference_chart
from app.charts.batchnorm import RUN_COLORS, convergence_chart, health_chart, histogram_chart
from app.charts.checkpointing import versus_depth
from app.charts.common import distinct_scale, log_domain, log_ticks
from app.charts.hessian import symlog
from app.charts.saddle import coin_flip_chart
from app.charts.training import learning_curve
from core.analysis.checkpointing.sweeps import reference_slopes

POINT_COLORS = alt.Scale(domain=["initial weights", "trained minimum"], range=["#f28e2b", "#4e79a7"])


def recipe_chart(answer, height=300):
    """Q1: loss and accuracy per epoch of the course recipe (``learning_curve``), side by side."""
    return alt.hconcat(learning_curve(answer.frame, "loss", height), learning_curve(answer.frame, "accuracy", height))


def twin_chart(answer, height=300):
    """Q2: |PyTorch loss − NumPy loss| per step in float64 and float32 (``loss_difference_chart``)."""
    return loss_difference_chart(answer.frame, height)


def eigenvalues_chart(answer, height=300):
    """Q3: every Hessian eigenvalue of the small net, smallest first, at its initial weights and at the minimum
    (symmetric log axis), beside the eigenvalues at the toy surface's critical points (linear axis)."""
    frame = answer.frame
    net, surface = frame[frame["subject"] == "network"], frame[frame["subject"] == "surface"]
    y_scale, y_axis = symlog(net["eigenvalue"], 1e-2)
    tooltip = [
        alt.Tooltip("point:N", title="Where"),
        alt.Tooltip("rank:Q", title="Rank (1 = smallest)"),
        alt.Tooltip("eigenvalue:Q", title="λ", format=".4~g"),
    ]
    zero = alt.Chart(pd.DataFrame({"eigenvalue": [0.0]})).mark_rule(color="#333").encode(y="eigenvalue:Q")
    base = alt.Chart(net).encode(
        x=alt.X("rank:Q", title="eigenvalues in order, smallest first", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("eigenvalue:Q", title="eigenvalue λ (symmetric log scale)", scale=y_scale, axis=y_axis),
        color=alt.Color("point:N", scale=POINT_COLORS, title="The network at", legend=alt.Legend(orient="top")),
        tooltip=tooltip,
    )
    left = alt.layer(zero, base.mark_line(strokeWidth=2), base.mark_point(filled=True, size=60)).properties(
        title=alt.Title("Every eigenvalue of a small net's Hessian", subtitle="below the black line: curving down"),
        height=height,
    )
    dots = (
        alt.Chart(surface)
        .mark_point(filled=True, size=160, color="#59a14f")
        .encode(
            x=alt.X("point:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=200)),
            y=alt.Y("eigenvalue:Q", title="eigenvalue λ"),
            tooltip=tooltip,
        )
    )
    right = alt.layer(zero, dots).properties(
        title=alt.Title("x⁴ − 2x² + y²", subtitle="λ₁ and λ₂ at two critical points"), height=height, width=260
    )
    return alt.hconcat(left, right)


def coin_chart(answer, height=340):
    """Q4: the measured fraction of positive-definite random matrices beside 2⁻ᵈ (``coin_flip_chart``)."""
    return coin_flip_chart(answer.frame, height)


def escape_chart(answer, height=320):
    """Q5: the distance from the saddle along each eigenvector per step (log axis), measured (solid) and as the
    (1 − ηλ)ᵗ factors predict it (dashed)."""
    long = answer.frame.melt(["step", "direction"], ["measured", "predicted"], var_name="series", value_name="distance")
    long["series"] = long["series"].map({"measured": "measured", "predicted": "(1 − ηλ)ᵗ × start"})
    long = long[long["distance"] <= 2 * answer.frame["measured"].max()]  # the prediction, where the picture holds
    names, ticks = list(dict.fromkeys(long["direction"])), log_ticks(long["distance"])
    base = alt.Chart(long).encode(
        x=alt.X("step:Q", title="gradient-descent step"),
        y=alt.Y(
            "distance:Q",
            title="distance |uᵢ| from the saddle (log scale)",
            axis=alt.Axis(values=ticks, format="~g"),
            scale=alt.Scale(type="log", domain=log_domain(ticks)),
        ),
        color=alt.Color(
            "direction:N",
            scale=distinct_scale(names),
            title="Along",
            legend=alt.Legend(orient="top", direction="vertical"),
        ),
        strokeDash=alt.StrokeDash(
            "series:N", scale=alt.Scale(domain=["measured", "(1 − ηλ)ᵗ × start"], range=[[1, 0], [6, 4]]), title=None
        ),
        tooltip=[
            alt.Tooltip("direction:N", title="Along"),
            alt.Tooltip("series:N", title="Series"),
            alt.Tooltip("step:Q", title="Step"),
            alt.Tooltip("distance:Q", title="|uᵢ|", format=".3~e"),
        ],
    )
    line = base.mark_line(strokeWidth=3)
    title = alt.Title("Leaving a saddle: one direction shrinks, the other grows", subtitle="x⁴ − 2x² + y², plain GD")
    return line.properties(title=title, height=height)


def running_sum_chart(answer, height=280):
    """Q6: the sums Σₙ ∂L/∂yₙ and Σₙ ∂L/∂yₙ x̂ₙ term by term, a panel each, ending at autograd's value (dashed)."""
    f, panels = answer.figures, []
    for gradient, autograd in (("∂L/∂β", f["dbeta_autograd"]), ("∂L/∂γ", f["dgamma_autograd"])):
        frame = answer.frame[answer.frame["gradient"] == gradient]
        line = (
            alt.Chart(frame)
            .mark_line(strokeWidth=2.5, color="#4e79a7")
            .encode(
                x=alt.X("n:Q", title="sample n of the batch"),
                y=alt.Y("running_sum:Q", title=f"{gradient}: sum of the terms 0 … n"),
                tooltip=[
                    alt.Tooltip("n:Q", title="Sample n"),
                    alt.Tooltip("term:Q", title="Term n", format=".4~e"),
                    alt.Tooltip("running_sum:Q", title="Sum so far", format=".6~e"),
                ],
            )
        )
        rule = (
            alt.Chart(pd.DataFrame({"value": [autograd], "label": ["PyTorch autograd"]}))
            .mark_rule(color="#e15759", strokeDash=[6, 4], strokeWidth=2)
            .encode(y="value:Q", tooltip=[alt.Tooltip("label:N", title=""), alt.Tooltip("value:Q", format=".10g")])
        )
        panels.append(alt.layer(line, rule).properties(title=gradient, height=height, width=330))
    title = alt.Title("The sums over the batch, term by term", subtitle="dashed: autograd's gradient")
    return alt.hconcat(*panels).properties(title=title)


def parameter_count_chart(answer, height=240):
    """Q7: what batch norm changes in hidden layer 1, stacked per network: the bias, or γ, β and the two running
    statistics (buffers pale); W, the same in both, is left out and named in the subtitle."""
    frame = answer.frame[answer.frame["array"] != "W (weights)"]
    weights = int(answer.frame.loc[answer.frame["array"] == "W (weights)", "count"].iloc[0])
    arrays = list(dict.fromkeys(frame["array"]))
    base = (
        alt.Chart(frame)
        .encode(
            y=alt.Y("network:N", sort=list(RUN_COLORS.domain), title=None),
            x=alt.X("count:Q", stack="zero", title="numbers (besides the weights W)"),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("network:N", title="Network"),
                alt.Tooltip("array:N", title="Array"),
                alt.Tooltip("kind:N", title="Kind"),
                alt.Tooltip("count:Q", title="Numbers", format=","),
            ],
        )
        .transform_calculate(order=f"indexof({arrays!r}, datum.array)")
    )
    bars = base.mark_bar(stroke="white", strokeWidth=2).encode(
        color=alt.Color("array:N", scale=distinct_scale(arrays), sort=arrays, title="Array"),
        opacity=alt.Opacity("kind:N", scale=alt.Scale(domain=["trained", "buffer"], range=[0.95, 0.4]), title="Kind"),
    )
    text = (
        base.mark_text(color="black", fontWeight="bold")
        .encode(x=alt.X("middle:Q"), text=alt.Text("count:Q", format=","))
        .transform_stack(stack="count", groupby=["network"], sort=[alt.SortField("order")], as_=["x0", "x1"])
        .transform_calculate(middle="(datum.x0 + datum.x1) / 2")
    )
    title = alt.Title(
        "What batch norm changes in hidden layer 1",
        subtitle=f"both also train W ({weights:,} weights); pale: buffers, not trained",
    )
    return alt.layer(bars, text).properties(title=title, height=height)


def batch_dependence_chart(answer, height=280):
    """Q8: one sample's batch-norm output per unit inside batch A, batch B and alone, training vs eval mode."""
    frame = answer.frame.assign(mode=answer.frame["mode"].map({"train": "training mode", "eval": "eval mode"}))
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=90, opacity=0.85)
        .encode(
            x=alt.X("unit:O", title="unit j", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title="batch norm's output y"),
            color=alt.Color("batch:N", scale=distinct_scale(["A", "B", "alone"]), title="Sample inside"),
            shape=alt.Shape(
                "batch:N",
                scale=alt.Scale(domain=["A", "B", "alone"], range=["circle", "square", "diamond"]),
                title="Sample inside",
            ),
            tooltip=[
                alt.Tooltip("mode:N", title="Mode"),
                alt.Tooltip("batch:N", title="Batch"),
                alt.Tooltip("unit:O", title="Unit"),
                alt.Tooltip("value:Q", title="Output", format=".6f"),
            ],
        )
        .properties(height=height, width=330)
    )
    return points.facet(column=alt.Column("mode:N", sort=["training mode", "eval mode"], title=None)).properties(
        title=alt.Title(
            "One sample, two batches",
            subtitle="the 8 units where the two batches differ most; eval mode: the points of both batches coincide",
        )
    )


def dead_units_chart(answer, height=260):
    """Q9: dead units per hidden layer over training, without and with batch norm (``health_chart``)."""
    return health_chart(answer.frame, height)


def histograms_chart(answer, height=100, width=330):
    """Q10: the pre-activation histograms of every hidden layer at the last epoch (``histogram_chart``)."""
    return histogram_chart(answer.frame, answer.figures["epoch"], "pre-activation", height, width)


def bn_convergence_chart(answer, height=280):
    """Q11: loss and validation accuracy per epoch, without and with batch norm (``convergence_chart``)."""
    return convergence_chart(answer.frame, height)


def memory_chart(answer, height=320):
    """Q12: peak memory of a step against depth, plain and checkpointed, with the ∝ n and ∝ √n guides."""
    sweep = answer.frame
    return versus_depth(
        sweep, reference_slopes(sweep, "peak_mb"), "peak_mb", "Peak memory of one training step", height
    )


# number → (the chart of its answer, its height in px before projector mode enlarges it)
CHARTS = {
    1: (recipe_chart, 300),
    2: (twin_chart, 300),
    3: (eigenvalues_chart, 300),
    4: (coin_chart, 340),
    5: (escape_chart, 320),
    6: (running_sum_chart, 280),
    7: (parameter_count_chart, 240),
    8: (batch_dependence_chart, 280),
    9: (dead_units_chart, 260),
    10: (histograms_chart, 100),
    11: (bn_convergence_chart, 280),
    12: (memory_chart, 320),
}


def answer_chart(answer, sized=None):
    """The chart of ``answer`` (``CHARTS``); ``sized(height)`` turns the chart's height into the one to draw
    (e.g. ``app.charts.display.chart_height``, larger in projector mode)."""
    draw, height = CHARTS[answer.number]
    return draw(answer, height=height if sized is None else sized(height))

"""Charts of the Forward pass view, each from a tidy frame of ``core.analysis.traces.forward_trace``."""

import altair as alt
import numpy as np

from app.charts.common import NUMBER, class_scale, diverging_scale

MAX_BAR_UNITS = 40  # wider layers are drawn as a heatmap strip
QUANTITY_COLORS = ["#a0a0a0", "#e6a532", "#54278f"]  # z, [BN(z),] a: grey, amber, purple
SIGN_COLORS = alt.Scale(domain=["positive", "negative"], range=["#c2272d", "#2166ac"])  # as diverging_scale
TRUE_CLASS_COLORS = alt.Scale(domain=["true class", "other classes"], range=["#2ca02c", "#a0a0a0"])


def quantity_labels(is_output, batch_norm):
    """What the bars of a layer mean, quantity → legend label, in forward order.

    Hidden layer: z = W a + b (z = W a before batch norm, which has no bias), z̃ = BN(z) = γ ẑ + β, a = f(…).
    Output layer: the logits z and p = softmax(z), the probabilities the "a" rows hold there.
    """
    if is_output:
        return {"z": "logits z = W a + b", "a": "p = softmax(z)"}
    if batch_norm:
        return {"z": "z = W a", "bn": "z̃ = BN(z) = γ ẑ + β", "a": "a = f(z̃)"}
    return {"z": "z = W a + b", "a": "a = f(z)"}


def _index_title(is_output):
    """The x axis of a layer's chart: its units j, or on the output layer the classes k (one logit per class)."""
    return "class k" if is_output else "unit j"


def _meanings(frame, is_output):
    """``frame`` with a ``meaning`` column (legend labels) and the labels in forward order."""
    labels = quantity_labels(is_output, "bn" in set(frame["quantity"]))
    return frame.assign(meaning=frame["quantity"].map(labels)), list(labels.values())


def layer_chart(frame, title, height, is_output=False, subtitle=None):
    """z, [z̃ = BN(z),] and a of one layer (rows of ``ForwardTrace.units_frame()`` for that layer): bars, or a strip
    if wide. ``is_output``: the layer holds the logits and the softmax probabilities."""
    title = alt.Title(title, subtitle=subtitle) if subtitle else title
    if frame["unit"].nunique() > MAX_BAR_UNITS:
        return layer_strip(frame, title, height, is_output)
    return layer_bars(frame, title, height, is_output)


def _tooltip(index):
    """What hovering a unit of a layer chart shows: the layer, the unit (``index`` names it), quantity, value."""
    return [
        alt.Tooltip("layer_name:N", title="layer"),
        alt.Tooltip("unit:O", title=index),
        alt.Tooltip("meaning:N", title="quantity"),
        alt.Tooltip("value:Q", format=".4g"),
    ]


def layer_bars(frame, title, height, is_output=False):
    """Grouped bars per unit, one bar per step (z grey, z̃ = BN(z) amber, a purple), so the effect of each is visible."""
    data, labels = _meanings(frame, is_output)
    colors = alt.Scale(domain=labels, range=QUANTITY_COLORS if len(labels) == 3 else QUANTITY_COLORS[::2])
    index = _index_title(is_output)
    base = alt.Chart(data, title=title).encode(
        x=alt.X("unit:O", title=index, axis=alt.Axis(labelAngle=0)),
        tooltip=_tooltip(index),
    )
    bars = base.mark_bar().encode(
        y=alt.Y("value:Q", title="value", axis=alt.Axis(format=NUMBER)),
        xOffset=alt.XOffset("meaning:N", sort=labels),
        color=alt.Color(
            "meaning:N",
            scale=colors,
            sort=labels,
            title=None,
            legend=alt.Legend(orient="top", direction="vertical" if len(labels) > 2 else "horizontal"),
        ),
    )
    zero = alt.Chart(data).mark_rule(color="black", strokeWidth=1).encode(y=alt.datum(0))
    return (bars + zero).properties(height=height)


def layer_strip(frame, title, height, is_output=False):
    """A heatmap strip for a wide layer: one row per step (z, [z̃ = BN(z),] a), colour centred on zero."""
    data, labels = _meanings(frame, is_output)
    n = int(frame["unit"].max()) + 1
    step = max(1, 10 ** int(np.log10(n)) // 2) if n > 20 else 1
    index = _index_title(is_output)
    strip = (
        alt.Chart(data, title=title)
        .mark_rect()
        .encode(
            x=alt.X("unit:O", title=index, axis=alt.Axis(values=list(range(0, n, step)), labelAngle=0)),
            y=alt.Y("meaning:N", title=None, sort=labels),
            color=alt.Color(
                "value:Q", scale=diverging_scale(data["value"]), title="value", legend=alt.Legend(format=NUMBER)
            ),
            tooltip=_tooltip(index),
        )
    )
    return strip.properties(height=int((0.45 + 0.1 * len(labels)) * height))


def probs_chart(frame, height):
    """Softmax probabilities per class (``ForwardTrace.probs_frame``), the true class in green."""
    data = frame.assign(role=np.where(frame["is_true"], "true class", "other classes"))
    base = alt.Chart(data, title="Probabilities p = softmax(z)").encode(
        y=alt.Y("class:N", title="class", sort=alt.EncodingSortField("class_index")),
        x=alt.X(
            "probability:Q",
            title="probability pₖ",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="~%", values=[0, 0.5, 1]),
        ),
        tooltip=[
            alt.Tooltip("class_index:O", title="k"),
            "class:N",
            alt.Tooltip("probability:Q", format=".4f"),
            "role:N",
        ],
    )
    bars = base.mark_bar().encode(
        color=alt.Color("role:N", scale=TRUE_CLASS_COLORS, title=None, legend=alt.Legend(orient="top"))
    )
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".3f"))
    return (bars + labels).properties(height=height)


def network_diagram(nodes, edges, layer_names, height, selected=None):
    """Units as circles coloured by their output, weights as lines coloured by sign, thicker when larger.

    ``nodes`` and ``edges`` come from ``core.analysis.traces.forward_trace.diagram_frames``; ``layer_names`` maps layer
    index to its axis label; ``selected`` = (layer, unit) rings that unit and darkens the weights into it.
    The colour scale spans the finite outputs only (NaN and ∞ are clamped to its ends).
    """
    shown = sorted(nodes["x"].unique())
    names = "[" + ", ".join(f"'{layer_names[l]}'" for l in range(int(max(shown)) + 1)) + "]"
    x_scale = alt.Scale(domain=[min(shown) - 0.6, max(shown) + 0.6], nice=False)
    x_axis = alt.Axis(values=[int(v) for v in shown], labelExpr=f"{names}[datum.value]", grid=False, labelAngle=0)
    x = alt.X("x:Q", scale=x_scale, axis=x_axis, title=None)
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(padding=14))
    per_layer = nodes.groupby("layer").size().max()
    diameter = float(np.clip(0.6 * height / per_layer, 6, 30))

    lines = (
        alt.Chart(edges)
        .mark_rule()
        .encode(
            x=x,
            y=y,
            x2="x2:Q",
            y2="y2:Q",
            color=alt.Color("sign:N", scale=SIGN_COLORS, title="weight sign"),
            strokeWidth=alt.StrokeWidth(
                "magnitude:Q", scale=alt.Scale(range=[0.3, 4]), title="|weight|", legend=alt.Legend(format=NUMBER)
            ),
            opacity=alt.Opacity("magnitude:Q", scale=alt.Scale(range=[0.15, 0.9]), legend=None),
            tooltip=[
                alt.Tooltip("layer:O", title="into layer"),
                alt.Tooltip("from_unit:O", title="from unit i"),
                alt.Tooltip("to_unit:O", title="to unit j"),
                alt.Tooltip("weight:Q", title="W_ji", format=".4g"),
            ],
        )
    )
    units = (
        alt.Chart(nodes)
        .mark_circle(size=diameter**2, opacity=1, stroke="#333333", strokeWidth=1)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "value:Q", scale=diverging_scale(nodes["value"]), title="unit output", legend=alt.Legend(format=NUMBER)
            ),
            tooltip=[
                alt.Tooltip("layer_name:N", title="layer"),
                alt.Tooltip("unit:O", title="unit"),
                alt.Tooltip("label:N", title="name"),
                alt.Tooltip("z:Q", title="z", format=".4g"),
                alt.Tooltip("value:Q", title="output", format=".4g"),
            ],
        )
    )
    text = alt.Chart(nodes[nodes["label"] != ""]).encode(x=x, y=y, text="label:N")
    first, last = min(shown), max(shown)
    labels = [  # input names left of the first column, class names right of the last
        text.transform_filter(f"datum.x == {first}").mark_text(align="right", dx=-diameter / 2 - 5),
        text.transform_filter(f"datum.x == {last}").mark_text(align="left", dx=diameter / 2 + 5),
    ]
    layers = [lines, units, *labels]
    if selected is not None:  # ring the unit and draw the weights into it at full strength
        l, j = selected
        incoming = lines.transform_filter(f"datum.layer == {l} && datum.to_unit == {j}")
        layers.insert(
            1, incoming.encode(opacity=alt.value(1), color=alt.Color("sign:N", scale=SIGN_COLORS, legend=None))
        )
        ring = alt.Chart(nodes[(nodes["layer"] == l) & (nodes["unit"] == j)])
        layers.append(ring.mark_point(size=(diameter + 12) ** 2, color="black", strokeWidth=3).encode(x=x, y=y))
    title = alt.Title("Units and weights", subtitle="circles are units (colour = their output), lines are weights")
    return alt.layer(*layers).properties(title=title, height=height).resolve_scale(color="independent")


def sample_plane_chart(points, point, class_names, height, title="The sample (✚) among the test points"):
    """Data points in their own coordinates x₀, x₁ (``core.analysis.traces.evaluation.points_frame``) and the chosen
    one (a frame with x0, x1); both axes span every point and the sample, so a typed point is never off the plot."""
    both = [points, point]
    domain = {c: [min(f[c].min() for f in both), max(f[c].max() for f in both)] for c in ("x0", "x1")}
    pad = {c: 0.06 * max(hi - lo, 1e-9) for c, (lo, hi) in domain.items()}
    scale = {c: alt.Scale(domain=[lo - pad[c], hi + pad[c]], nice=False) for c, (lo, hi) in domain.items()}
    dots = (
        alt.Chart(points, title=title)
        .mark_circle(size=40, opacity=0.5)
        .encode(
            x=alt.X("x0:Q", title="x₀", scale=scale["x0"], axis=alt.Axis(tickCount=5)),
            y=alt.Y("x1:Q", title="x₁", scale=scale["x1"], axis=alt.Axis(tickCount=5)),
            color=alt.Color("class:N", scale=class_scale(class_names), title="class", legend=alt.Legend(orient="top")),
            tooltip=[
                "class:N",
                alt.Tooltip("x0:Q", title="x₀", format=".3f"),
                alt.Tooltip("x1:Q", title="x₁", format=".3f"),
            ],
        )
    )
    chosen = (
        alt.Chart(point)
        .mark_point(shape="cross", size=500, color="black", filled=True)
        .encode(
            x=alt.X("x0:Q", scale=scale["x0"]),
            y=alt.Y("x1:Q", scale=scale["x1"]),
            tooltip=[alt.Tooltip("x0:Q", title="x₀", format=".3f"), alt.Tooltip("x1:Q", title="x₁", format=".3f")],
        )
    )
    return (dots + chosen).properties(height=height)

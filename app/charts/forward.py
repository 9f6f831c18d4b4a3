"""Charts of the Forward pass view, each from a tidy frame of ``core.analysis.forward_trace``."""

import altair as alt
import numpy as np

from app.charts.common import class_scale, diverging_scale

MAX_BAR_UNITS = 40  # wider layers are drawn as a heatmap strip
QUANTITY_LABELS = {"z": "z = W a + b", "a": "a = f(z)"}
QUANTITY_COLORS = alt.Scale(domain=list(QUANTITY_LABELS.values()), range=["#a0a0a0", "#54278f"])
SIGN_COLORS = alt.Scale(domain=["positive", "negative"], range=["#c2272d", "#2166ac"])  # as diverging_scale
TRUE_CLASS_COLORS = alt.Scale(domain=["true class", "other classes"], range=["#2ca02c", "#a0a0a0"])


def layer_chart(frame, title, height):
    """z and a of one layer (rows of ``ForwardTrace.units_frame()`` for that layer): bars, or a strip if wide."""
    if frame["unit"].nunique() > MAX_BAR_UNITS:
        return layer_strip(frame, title, height)
    return layer_bars(frame, title, height)


def layer_bars(frame, title, height):
    """Grouped bars per unit: z (grey) next to a = f(z) (purple), so the effect of f is visible."""
    data = frame.assign(meaning=frame["quantity"].map(QUANTITY_LABELS))
    base = alt.Chart(data, title=title).encode(
        x=alt.X("unit:O", title="unit j", axis=alt.Axis(labelAngle=0)),
        tooltip=["layer_name:N", "unit:O", "meaning:N", alt.Tooltip("value:Q", format=".4g")],
    )
    bars = base.mark_bar().encode(
        y=alt.Y("value:Q", title="value"),
        xOffset=alt.XOffset("meaning:N", sort=list(QUANTITY_LABELS.values())),
        color=alt.Color("meaning:N", scale=QUANTITY_COLORS, title=None, legend=alt.Legend(orient="top")),
    )
    zero = alt.Chart(data).mark_rule(color="black", strokeWidth=1).encode(y=alt.datum(0))
    return (bars + zero).properties(height=height)


def layer_strip(frame, title, height):
    """A heatmap strip for a wide layer: one row for z, one for a, colour centred on zero."""
    data = frame.assign(meaning=frame["quantity"].map(QUANTITY_LABELS))
    n = int(frame["unit"].max()) + 1
    step = max(1, 10 ** int(np.log10(n)) // 2) if n > 20 else 1
    strip = (
        alt.Chart(data, title=title)
        .mark_rect()
        .encode(
            x=alt.X("unit:O", title="unit j", axis=alt.Axis(values=list(range(0, n, step)), labelAngle=0)),
            y=alt.Y("meaning:N", title=None, sort=list(QUANTITY_LABELS.values())),
            color=alt.Color("value:Q", scale=diverging_scale(data["value"]), title="value"),
            tooltip=["layer_name:N", "unit:O", "meaning:N", alt.Tooltip("value:Q", format=".4g")],
        )
    )
    return strip.properties(height=int(0.65 * height))


def probs_chart(frame, height):
    """Softmax probabilities per class (``ForwardTrace.probs_frame``), the true class in green."""
    data = frame.assign(role=np.where(frame["is_true"], "true class", "other classes"))
    base = alt.Chart(data, title="Softmax probabilities p = softmax(z)").encode(
        y=alt.Y("class:N", title="class", sort=alt.EncodingSortField("class_index")),
        x=alt.X("probability:Q", title="probability p_k", scale=alt.Scale(domain=[0, 1])),
        tooltip=["class:N", alt.Tooltip("probability:Q", format=".4f"), "role:N"],
    )
    bars = base.mark_bar().encode(color=alt.Color("role:N", scale=TRUE_CLASS_COLORS, title=None,
                                                  legend=alt.Legend(orient="top")))  # fmt: skip
    labels = base.mark_text(align="left", dx=4, fontSize=13).encode(text=alt.Text("probability:Q", format=".3f"))
    return (bars + labels).properties(height=height)


def network_diagram(nodes, edges, layer_names, height, selected=None):
    """Units as circles coloured by their output, weights as lines coloured by sign, thicker when larger.

    ``nodes`` and ``edges`` come from ``core.analysis.forward_trace.diagram_frames``; ``layer_names`` maps layer
    index to its axis label; ``selected`` = (layer, unit) rings that unit and darkens the weights into it.
    """
    shown = sorted(nodes["x"].unique())
    names = "[" + ", ".join(f"'{layer_names[l]}'" for l in range(int(max(shown)) + 1)) + "]"
    x_scale = alt.Scale(domain=[min(shown) - 0.6, max(shown) + 0.6], nice=False)
    x_axis = alt.Axis(values=[int(v) for v in shown], labelExpr=f"{names}[datum.value]", grid=False,
                      labelFontSize=14, labelAngle=0)  # fmt: skip
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
            strokeWidth=alt.StrokeWidth("magnitude:Q", scale=alt.Scale(range=[0.3, 4]), title="|weight|"),
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
            color=alt.Color("value:Q", scale=diverging_scale(nodes["value"]), title="unit output"),
            tooltip=[
                "layer_name:N",
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
        text.transform_filter(f"datum.x == {first}").mark_text(align="right", dx=-diameter / 2 - 5, fontSize=13),
        text.transform_filter(f"datum.x == {last}").mark_text(align="left", dx=diameter / 2 + 5, fontSize=13),
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
    title = "The network: circles are units (colour = their output), lines are weights"
    return alt.layer(*layers).properties(title=title, height=height).resolve_scale(color="independent")


def sample_plane_chart(points, point, class_names, height):
    """Data points in their own coordinates (``core.analysis.evaluation.points_frame``) and the chosen one (x1, x2)."""
    dots = (
        alt.Chart(points, title="The sample (✚) among the test points")
        .mark_circle(size=40, opacity=0.5)
        .encode(
            x=alt.X("x1:Q", title="x₁"),
            y=alt.Y("x2:Q", title="x₂"),
            color=alt.Color("class:N", scale=class_scale(class_names), title="class", legend=alt.Legend(orient="top")),
            tooltip=["class:N", alt.Tooltip("x1:Q", format=".3f"), alt.Tooltip("x2:Q", format=".3f")],
        )
    )
    chosen = (
        alt.Chart(point)
        .mark_point(shape="cross", size=500, color="black", filled=True)
        .encode(x="x1:Q", y="x2:Q", tooltip=[alt.Tooltip("x1:Q", format=".3f"), alt.Tooltip("x2:Q", format=".3f")])
    )
    return (dots + chosen).properties(height=height)

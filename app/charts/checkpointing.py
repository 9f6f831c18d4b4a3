"""Charts of gradient checkpointing: memory and time against depth and k, what is kept, the backward step by step."""

import altair as alt

from core.analysis.checkpointing.memory import PLAIN

STATE_COLORS = alt.Scale(domain=["checkpoint", "cached", "not in memory"], range=["#1f77b4", "#ff7f0e", "#eeeeee"])
ROLE_COLORS = alt.Scale(domain=["checkpoint: kept", "recomputed in backward"], range=["#1f77b4", "#ff7f0e"])
VALUE_TITLES = {"peak_mb": "Peak memory (MB)", "seconds": "Seconds per step"}


def _variant_scale(frame):
    """Plain backprop red, the checkpointed settings blue and green, in the frame's order."""
    variants = list(dict.fromkeys(frame["variant"]))
    others = [v for v in variants if v != PLAIN]
    return alt.Scale(domain=[PLAIN, *others], range=["#d62728", "#1f77b4", "#2ca02c", "#9467bd"][: len(others) + 1])


def _tooltip():
    return [
        alt.Tooltip("backend:N", title="Backend"),
        alt.Tooltip("variant:N", title="Setting"),
        alt.Tooltip("depth:Q", title="Hidden layers n"),
        alt.Tooltip("k:Q", title="Segment length k"),
        alt.Tooltip("checkpoints:Q", title="Checkpoints"),
        alt.Tooltip("peak_mb:Q", title="Peak memory (MB)", format=".3f"),
        alt.Tooltip("seconds:Q", title="Seconds per step", format=".4f"),
    ]


def versus_depth(sweep, references, value, title, height=320):
    """``value`` ("peak_mb" or "seconds") against depth on log-log axes, one line per setting and backend,
    with the reference slopes (``reference_slopes``: reference, depth, value) drawn grey and dashed and named at
    their right end; the legends sit below the plot, clear of those names."""
    y_title = f"{VALUE_TITLES[value]} (log scale)"
    x = alt.X("depth:Q", title="Hidden layers n (log scale)", scale=alt.Scale(type="log", nice=False))
    base = alt.Chart(sweep).encode(
        x=x,
        y=alt.Y(f"{value}:Q", title=y_title, scale=alt.Scale(type="log")),
        color=alt.Color("variant:N", scale=_variant_scale(sweep), title="Setting", legend=alt.Legend(orient="bottom")),
        strokeDash=alt.StrokeDash(
            "backend:N",
            title="Backend",
            legend=alt.Legend(orient="bottom", symbolType="stroke", symbolStrokeWidth=3, symbolStrokeColor="#555")
            if sweep.backend.nunique() > 1
            else None,
        ),
        tooltip=_tooltip(),
    )
    line = base.mark_line(strokeWidth=3)
    points = base.mark_point(filled=True, size=60)
    ref = alt.Chart(references).encode(
        x=x,
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log")),
        detail="reference:N",
        tooltip=[alt.Tooltip("reference:N", title="Reference slope"), alt.Tooltip("depth:Q", title="Hidden layers n")],
    )
    guide = ref.mark_line(color="#888", strokeDash=[2, 3], strokeWidth=1.5)
    label = (
        ref.transform_filter(f"datum.depth == {references.depth.max() if len(references) else 0}")
        .mark_text(align="left", dx=6, color="#555", fontSize=13)
        .encode(text="reference:N")
    )
    return alt.layer(guide, label, line, points).properties(title=title, height=height)


def k_chart(sweep, best, height=300):
    """Peak memory against the segment length k (log axis): the U of ⌈L/k⌉ checkpoints plus a k-layer
    segment, with plain backprop's peak as a red rule and the measured best k marked."""
    curve = sweep[sweep["k"].notna()].astype({"k": "int64", "checkpoints": "int64"})
    plain = sweep[sweep["k"].isna()]
    base = alt.Chart(curve).encode(
        x=alt.X(
            "k:Q",
            title="Segment length k: layers between checkpoints (log scale)",
            scale=alt.Scale(type="log", nice=False),
        ),  # from k = 1 to k = L, not on to the next power of 10
        y=alt.Y("peak_mb:Q", title="Peak memory (MB)", scale=alt.Scale(zero=True)),
        tooltip=_tooltip(),
    )
    line = base.mark_line(strokeWidth=3, color="#1f77b4")
    points = base.mark_point(filled=True, size=60, color="#1f77b4")
    star = base.transform_filter(f"datum.k == {best}").mark_point(
        shape="diamond", size=260, filled=True, color="#2ca02c"
    )
    rule = (
        alt.Chart(plain)
        .mark_rule(color="#d62728", strokeDash=[6, 4], strokeWidth=2)
        .encode(y="peak_mb:Q", tooltip=[alt.Tooltip("peak_mb:Q", title="Plain backprop peak (MB)", format=".3f")])
    )
    depth = int(sweep["depth"].iloc[0])
    subtitle = f"Green diamond: the least memory, at k = {best}; red: plain backprop"
    title = alt.TitleParams(f"Peak memory against k, {depth} hidden layers", subtitle=subtitle)
    return alt.layer(rule, line, points, star).properties(title=title, height=height)


def layout_chart(layout, height=130):
    """One cell per layer: blue where its input is kept as a checkpoint, orange where it is recomputed."""
    base = alt.Chart(layout).encode(
        x=alt.X("layer:O", title="Layer (its input written in the cell)", axis=alt.Axis(labelAngle=0)),
        tooltip=[
            alt.Tooltip("layer:O", title="Layer"),
            alt.Tooltip("input:N", title="Input"),
            alt.Tooltip("segment:O", title="Segment"),
            alt.Tooltip("role:N", title="Its activations"),
        ],
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("role:N", scale=ROLE_COLORS, title="Activations")
    )
    text = base.mark_text(color="white", fontWeight="bold").encode(text="input:N")
    k, n = int(layout.groupby("segment").size().max()), int(layout.segment.max())
    title = alt.TitleParams("Which activations the forward keeps", subtitle=f"{n} segments of up to {k} layers")
    return alt.layer(cells, text).properties(title=title, height=height)


def steps_chart(steps, height=None):
    """The backward step by step: one row per step, one cell per layer coloured by what it holds."""
    frame = steps.assign(row=steps["step"].astype(str) + ". " + steps["action"])
    order = list(dict.fromkeys(frame.sort_values("step")["row"]))
    base = alt.Chart(frame).encode(
        x=alt.X("layer:O", title="Layer", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=420)),
        tooltip=[
            alt.Tooltip("step:O", title="Step"),
            alt.Tooltip("action:N", title="What happens"),
            alt.Tooltip("layer:O", title="Layer"),
            alt.Tooltip("state:N", title="Its activations"),
            alt.Tooltip("in_memory:Q", title="Layers in memory"),
        ],
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1.5).encode(
        color=alt.Color("state:N", scale=STATE_COLORS, title="Activations")
    )
    peak = int(steps["in_memory"].max())
    title = alt.TitleParams(
        "The checkpointed backward, step by step", subtitle=f"At most {peak} layers hold activations at once"
    )
    return cells.properties(title=title, height=height or 26 * len(order))

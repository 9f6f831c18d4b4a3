"""Charts of the NumPy-vs-PyTorch page: curves overlaid, differences on log axes, time per epoch.

Every frame is long form with a ``dtype`` column ("float32", "float64") and a ``backend`` column holding
the readable name (``core.analysis.backend_compare.BACKEND_LABELS``).
"""

import altair as alt
import numpy as np
import pandas as pd

from app.charts.common import log_domain, log_ticks
from core.analysis.backend_compare import BACKEND_LABELS

LOG_FLOOR = 1e-18  # a difference of exactly 0 is drawn here on log axes
STYLE = {  # backend: (colour, dash, line width): NumPy wide and pale below, PyTorch thin and dashed on top
    "NumPy": ("#9ecae1", [1, 0], 6),
    "PyTorch (CPU)": ("#d62728", [6, 4], 2),
    "PyTorch (GPU)": ("#2ca02c", [2, 3], 2),
}
DTYPE_COLORS = alt.Scale(domain=["float32", "float64"], range=["#e6550d", "#3182bd"])
EPS = {dtype: float(np.finfo(dtype).eps) for dtype in ("float32", "float64")}
WHISKER_CAP = 1.5  # time bars: min–max lines are cut at 1.5 × the largest median
LABEL_ROOM = 0.5  # … and that point sits at half the chart's width, the labels right of it


def _backend_scale(frame, i):
    """Item i of ``STYLE`` (colour, dash or width) for the backends present in ``frame``, in a fixed order."""
    present = [b for b in BACKEND_LABELS.values() if b in set(frame["backend"])]
    return alt.Scale(domain=present, range=[STYLE[b][i] for b in present])


def curves_chart(frame, value, title, y_title, height=260, width=420, log=False):
    """``value`` per step of every backend overlaid, a panel per dtype (columns step, dtype, backend, value)."""
    if log:
        ticks = log_ticks(frame[value])
        y_scale, y_axis = alt.Scale(type="log", domain=log_domain(ticks)), alt.Axis(values=ticks, format="~g")
    else:
        y_scale, y_axis = alt.Scale(zero=False), alt.Axis(format="~%" if value == "accuracy" else "~g")
    line = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=alt.Y(f"{value}:Q", title=y_title, scale=y_scale, axis=y_axis),
            color=alt.Color("backend:N", scale=_backend_scale(frame, 0), title=None, legend=alt.Legend(orient="top")),
            strokeDash=alt.StrokeDash("backend:N", scale=_backend_scale(frame, 1), legend=None),
            strokeWidth=alt.StrokeWidth("backend:N", scale=_backend_scale(frame, 2), legend=None),
            tooltip=[
                alt.Tooltip("dtype:N", title="precision"),
                alt.Tooltip("backend:N"),
                alt.Tooltip("step:Q"),
                alt.Tooltip(f"{value}:Q", title=y_title, format=".8g"),
            ],
        )
        .properties(height=height, width=width)
    )
    return line.facet(column=alt.Column("dtype:N", title=None, sort=["float64", "float32"])).properties(title=title)


def _floored(frame, column):
    """``frame`` with ``shown`` (``column``, 0 drawn at LOG_FLOOR) and ``base``, a power of ten below every value."""
    shown = frame[column].clip(lower=LOG_FLOOR)
    return frame.assign(shown=shown, base=10.0 ** (np.floor(np.log10(shown.min())) - 1) if len(shown) else LOG_FLOOR)


def _log_scale(values, dtypes):
    """A log scale and axis for differences: decade ticks (1e-16, 1e-12, …) spanning ``values`` and machine ε."""
    ticks = log_ticks([*values, *(EPS[d] for d in dtypes)], max_ticks=7)
    return alt.Scale(type="log", domain=log_domain(ticks)), alt.Axis(values=ticks, format="~e")


def _eps_rules(dtypes, y):
    """A dotted rule at the machine ε of each dtype, named right of the plot (where no bar or dot is)."""
    eps = pd.DataFrame({"dtype": list(dtypes), "shown": [EPS[d] for d in dtypes]})
    eps["label"] = [f"ε of {d}" for d in dtypes]
    base = alt.Chart(eps).encode(
        y=y,
        color=alt.Color("dtype:N", scale=DTYPE_COLORS),
        tooltip=[alt.Tooltip("label:N", title=""), alt.Tooltip("shown:Q", title="ε", format=".2e")],
    )
    rule = base.mark_rule(strokeDash=[2, 2])
    text = base.mark_text(align="left", baseline="middle", x="width", dx=4).encode(text="label:N")  # right of the plot
    return rule + text


def loss_difference_chart(frame, height=280):
    """|loss of PyTorch − loss of NumPy| per step as dots on a log axis, the largest so far as a line, per dtype."""
    data = _floored(frame, "abs_diff")
    data["so_far"] = data.groupby(["dtype", "backend"])["shown"].cummax()
    title = alt.Title(
        "|PyTorch loss − NumPy loss| at every step",
        subtitle=f"log scale, dots: each step (0 is drawn at {LOG_FLOOR:g}), line: the largest so far",
    )
    base = alt.Chart(data, title=title).encode(
        x=alt.X("step:Q", title="training step"),
        color=alt.Color("dtype:N", scale=DTYPE_COLORS, title="precision", legend=alt.Legend(orient="top")),
        detail="backend:N",
        tooltip=[
            alt.Tooltip("dtype:N", title="precision"),
            alt.Tooltip("backend:N"),
            alt.Tooltip("step:Q"),
            alt.Tooltip("abs_diff:Q", title="|difference|", format=".3~e"),
            alt.Tooltip("so_far:Q", title="largest so far", format=".3~e"),
        ],
    )
    dtypes = sorted(set(frame["dtype"]))
    scale, axis = _log_scale(data["shown"], dtypes)
    y = alt.Y("shown:Q", title="|difference of the losses| (log)", scale=scale, axis=axis)
    dots = base.mark_circle(size=28, opacity=0.6).encode(y=y)
    line = base.mark_line(strokeWidth=2.5).encode(y=alt.Y("so_far:Q", scale=scale))
    return alt.layer(dots, line, _eps_rules(dtypes, y)).properties(height=height)


def parameter_difference_chart(frame, title, subtitle, height=280):
    """Bars of max |PyTorch − NumPy| per parameter array (W1, b1, …), log axis, a bar per dtype side by side."""
    order = list(dict.fromkeys(frame.sort_values("layer", kind="stable")["param"]))
    data, dtypes = _floored(frame, "max_abs_diff"), sorted(set(frame["dtype"]))
    scale, axis = _log_scale([*data["shown"], *data["base"]], dtypes)
    y = alt.Y("shown:Q", title="max |PyTorch − NumPy| (log)", scale=scale, axis=axis)
    bars = (
        alt.Chart(data, title=alt.Title(title, subtitle=subtitle))
        .mark_bar()
        .encode(
            x=alt.X(
                "param:N",
                sort=order,
                title="parameter (layer 1 = input side)",
                axis=alt.Axis(labelAngle=0 if len(order) <= 8 else -35),
            ),
            xOffset=alt.XOffset("dtype:N", sort=["float64", "float32"]),
            y=y,
            y2="base:Q",
            color=alt.Color("dtype:N", scale=DTYPE_COLORS, title="precision", legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("dtype:N", title="precision"),
                alt.Tooltip("backend:N"),
                alt.Tooltip("param:N"),
                alt.Tooltip("max_abs_diff:Q", title="max |difference|", format=".3~e"),
                alt.Tooltip("rel_diff:Q", title="‖difference‖ / (‖a‖ + ‖b‖)", format=".3~e"),
            ],
        )
    )
    return alt.layer(bars, _eps_rules(dtypes, y)).properties(height=height)


def _speed(ratio):
    """NumPy's time ÷ this backend's, as a student reads it: "1.1× faster" or "3.7× slower" than NumPy."""
    return f"{ratio:.2g}× faster" if ratio >= 1 else f"{1 / ratio:.2g}× slower"


def time_chart(summary, title, subtitle, height=240):
    """Median seconds per epoch of each backend as bars, min–max as a black line, the speed against NumPy as text.

    ``summary``: columns group (the dtype, or the benchmark's setting), backend, median, min, max, ratio (NumPy's
    median ÷ this one's). The axis is scaled to the medians: one slow outlier epoch (a busy machine) would squash
    every bar, so a min–max line beyond ``WHISKER_CAP`` × the largest median is cut there and ends in ▸.
    """
    cap = WHISKER_CAP * float(summary["median"].max())
    data = summary.assign(
        label=[
            f"{m:.3g} s" + ("" if b == BACKEND_LABELS["numpy"] else f" ({_speed(r)})")
            for b, m, r in zip(summary["backend"], summary["median"], summary["ratio"])
        ],
        max_shown=summary["max"].clip(upper=cap),
        cut=summary["max"] > cap,
    )
    order = [b for b in BACKEND_LABELS.values() if b in set(data["backend"])]
    x_scale = alt.Scale(domain=[0, cap / LABEL_ROOM], nice=False)  # the labels need the right part of the chart
    base = alt.Chart(data, title=alt.Title(title, subtitle=subtitle)).encode(
        y=alt.Y("group:N", title=None, sort=list(dict.fromkeys(data["group"]))),
        yOffset=alt.YOffset("backend:N", sort=order),
        tooltip=[
            alt.Tooltip("group:N", title="setting"),
            alt.Tooltip("backend:N"),
            alt.Tooltip("median:Q", title="median s/epoch", format=".4f"),
            alt.Tooltip("min:Q", title="fastest", format=".4f"),
            alt.Tooltip("max:Q", title="slowest", format=".4f"),
            alt.Tooltip("ratio:Q", title="NumPy's time ÷ this one's", format=".2f"),
        ],
    )
    bars = base.mark_bar().encode(
        x=alt.X("median:Q", title="seconds per epoch (median)", scale=x_scale),
        color=alt.Color(
            "backend:N", sort=order, scale=_backend_scale(data, 0), title=None, legend=alt.Legend(orient="top")
        ),
    )
    spread = base.mark_rule(color="black", strokeWidth=2).encode(x="min:Q", x2="max_shown:Q")
    cut = base.transform_filter(alt.datum.cut).mark_point(shape="triangle-right", filled=True, color="black", size=60)
    text = base.mark_text(align="left", dx=8).encode(x=alt.datum(cap), text="label:N")
    return alt.layer(bars, spread, cut.encode(x="max_shown:Q"), text).properties(height=height)

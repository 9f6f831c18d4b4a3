"""Charts of the NumPy-vs-PyTorch page: curves overlaid, differences on log axes, time per epoch.

Every frame is long form with a ``dtype`` column ("float32", "float64") and a ``backend`` column holding
the readable name (``core.analysis.backend_compare.BACKEND_LABELS``).
"""

import altair as alt
import numpy as np
import pandas as pd

from core.analysis.backend_compare import BACKEND_LABELS

LOG_FLOOR = 1e-18  # a difference of exactly 0 is drawn here on log axes
STYLE = {  # backend: (colour, dash, line width): NumPy wide and pale below, PyTorch thin and dashed on top
    "NumPy": ("#9ecae1", [1, 0], 6),
    "PyTorch (CPU)": ("#d62728", [6, 4], 2),
    "PyTorch (GPU)": ("#2ca02c", [2, 3], 2),
}
DTYPE_COLORS = alt.Scale(domain=["float32", "float64"], range=["#e6550d", "#3182bd"])
EPS = {dtype: float(np.finfo(dtype).eps) for dtype in ("float32", "float64")}


def _backend_scale(frame, i):
    """Item i of ``STYLE`` (colour, dash or width) for the backends present in ``frame``, in a fixed order."""
    present = [b for b in BACKEND_LABELS.values() if b in set(frame["backend"])]
    return alt.Scale(domain=present, range=[STYLE[b][i] for b in present])


def curves_chart(frame, value, title, y_title, height=260, width=420, log=False):
    """``value`` per step of every backend overlaid, a panel per dtype (columns step, dtype, backend, value)."""
    y_scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    line = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=alt.Y(f"{value}:Q", title=y_title, scale=y_scale),
            color=alt.Color("backend:N", scale=_backend_scale(frame, 0), title=None, legend=alt.Legend(orient="top")),
            strokeDash=alt.StrokeDash("backend:N", scale=_backend_scale(frame, 1), legend=None),
            strokeWidth=alt.StrokeWidth("backend:N", scale=_backend_scale(frame, 2), legend=None),
            tooltip=[
                alt.Tooltip("dtype:N", title="precision"),
                alt.Tooltip("backend:N"),
                alt.Tooltip("step:Q"),
                alt.Tooltip(f"{value}:Q", title=y_title, format=".8g"),
            ],  # fmt: skip
        )
        .properties(height=height, width=width)
    )
    return line.facet(column=alt.Column("dtype:N", title=None, sort=["float64", "float32"])).properties(title=title)


def _floored(frame, column):
    """``frame`` with ``shown`` (``column``, 0 drawn at LOG_FLOOR) and ``base``, a power of ten below every value."""
    shown = frame[column].clip(lower=LOG_FLOOR)
    return frame.assign(shown=shown, base=10.0 ** (np.floor(np.log10(shown.min())) - 1) if len(shown) else LOG_FLOOR)


def _eps_rules(dtypes):
    """A dotted rule at the machine ε of each dtype."""
    eps = pd.DataFrame({"dtype": list(dtypes), "eps": [EPS[d] for d in dtypes]})
    eps["label"] = [f"machine ε of {d} = {EPS[d]:.1e}" for d in dtypes]
    return (
        alt.Chart(eps)
        .mark_rule(strokeDash=[2, 2])
        .encode(y="eps:Q", color=alt.Color("dtype:N", scale=DTYPE_COLORS), tooltip=[alt.Tooltip("label:N", title="")])
    )


def loss_difference_chart(frame, height=280):
    """|loss of PyTorch − loss of NumPy| per step as dots on a log axis, the largest so far as a line, per dtype."""
    data = _floored(frame, "abs_diff")
    data["so_far"] = data.groupby(["dtype", "backend"])["shown"].cummax()
    title = alt.Title("|PyTorch loss − NumPy loss| at every step",
                      subtitle=f"log scale, dots: each step (0 is drawn at {LOG_FLOOR:g}), line: the largest so far")  # fmt: skip
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
        ],  # fmt: skip
    )
    y = alt.Y("shown:Q", scale=alt.Scale(type="log"), title="|difference of the losses| (log)")
    dots = base.mark_circle(size=28, opacity=0.6).encode(y=y)
    line = base.mark_line(strokeWidth=2.5).encode(y=alt.Y("so_far:Q", scale=alt.Scale(type="log")))
    return alt.layer(dots, line, _eps_rules(sorted(set(frame["dtype"])))).properties(height=height)


def parameter_difference_chart(frame, title, subtitle, height=280):
    """Bars of max |PyTorch − NumPy| per parameter array (W1, b1, …), log axis, a bar per dtype side by side."""
    order = list(dict.fromkeys(frame.sort_values("layer", kind="stable")["param"]))
    bars = (
        alt.Chart(_floored(frame, "max_abs_diff"), title=alt.Title(title, subtitle=subtitle))
        .mark_bar()
        .encode(
            x=alt.X(
                "param:N",
                sort=order,
                title="parameter (layer 1 = input side)",
                axis=alt.Axis(labelAngle=0 if len(order) <= 8 else -35),
            ),  # fmt: skip
            xOffset=alt.XOffset("dtype:N", sort=["float64", "float32"]),
            y=alt.Y("shown:Q", scale=alt.Scale(type="log"), title="max |PyTorch − NumPy| (log)"),
            y2="base:Q",
            color=alt.Color("dtype:N", scale=DTYPE_COLORS, title="precision", legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("dtype:N", title="precision"),
                alt.Tooltip("backend:N"),
                alt.Tooltip("param:N"),
                alt.Tooltip("max_abs_diff:Q", title="max |difference|", format=".3~e"),
                alt.Tooltip("rel_diff:Q", title="‖difference‖ / (‖a‖ + ‖b‖)", format=".3~e"),
            ],  # fmt: skip
        )
    )
    return alt.layer(bars, _eps_rules(sorted(set(frame["dtype"])))).properties(height=height)


def time_chart(summary, title, subtitle, height=240):
    """Median seconds per epoch of each backend as bars, min–max as a black line, NumPy ÷ it as text.

    ``summary``: columns group (the dtype, or the benchmark's setting), backend, median, min, max, ratio.
    """
    data = summary.assign(
        label=[f"{m:.3g} s, NumPy ÷ this = {r:.2g}" for m, r in zip(summary["median"], summary["ratio"])]
    )
    order = [b for b in BACKEND_LABELS.values() if b in set(data["backend"])]
    base = alt.Chart(data, title=alt.Title(title, subtitle=subtitle)).encode(
        y=alt.Y("group:N", title=None, sort=list(dict.fromkeys(data["group"]))),
        yOffset=alt.YOffset("backend:N", sort=order),
        tooltip=[
            alt.Tooltip("group:N", title="setting"),
            alt.Tooltip("backend:N"),
            alt.Tooltip("median:Q", title="median s/epoch", format=".4f"),
            alt.Tooltip("min:Q", title="fastest", format=".4f"),
            alt.Tooltip("max:Q", title="slowest", format=".4f"),
            alt.Tooltip("ratio:Q", title="NumPy ÷ this", format=".2f"),
        ],  # fmt: skip
    )
    bars = base.mark_bar().encode(
        x=alt.X("median:Q", title="seconds per epoch (median)", scale=alt.Scale(domainMax=1.8 * data["max"].max())),
        color=alt.Color(
            "backend:N", sort=order, scale=_backend_scale(data, 0), title=None, legend=alt.Legend(orient="top")
        ),  # fmt: skip
    )
    spread = base.mark_rule(color="black", strokeWidth=2).encode(x="min:Q", x2="max:Q")
    text = base.mark_text(align="left", dx=6, fontSize=12).encode(x="max:Q", text="label:N")
    return alt.layer(bars, spread, text).properties(height=height)

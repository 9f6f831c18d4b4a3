"""Charts of the Hessian spectrum page: top eigenvalues, the density, the loss around the weights, the spectrum over
training."""

import altair as alt
import numpy as np
import pandas as pd

from app.charts.common import NUMBER, distinct_scale, log_domain, log_ticks

DENSITY_RANGE = 1e-6  # the density's log axis spans 6 decades below its peak; lower values are drawn on its floor


def symlog(values, share):
    """A symmetric log scale, linear within ±share · max|values| of 0 and logarithmic beyond, and its axis:
    0 and 1-2-5 (or decade) ticks on each side."""
    v = np.asarray(values, dtype=np.float64)
    m = float(np.abs(v).max(initial=0.0))
    ticks = [0.0]
    if (v > share * m).any():
        ticks += [t for t in log_ticks(v[v > share * m], max_ticks=4) if t <= v.max()]
    if (v < -share * m).any():
        ticks = [-t for t in log_ticks(-v[v < -share * m], max_ticks=3) if -t >= v.min()][::-1] + ticks
    scale = alt.Scale(type="symlog", constant=share * m if m > 0 else 1.0)
    return scale, alt.Axis(values=ticks, format="~g")


def top_eigenvalues_chart(values, height=260):
    """Bars of the k largest eigenvalues λ₁ ≥ … ≥ λₖ (values descending)."""
    frame = pd.DataFrame({"i": np.arange(1, len(values) + 1), "eigenvalue": values})
    base = alt.Chart(
        frame, title=alt.Title(f"The {len(values)} largest eigenvalues", subtitle="Lanczos on H v products")
    )
    bars = base.mark_bar(color="#4e79a7").encode(
        x=alt.X("i:O", title="i (1 = the largest)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("eigenvalue:Q", title="eigenvalue λᵢ"),
        tooltip=[alt.Tooltip("i:O", title="i"), alt.Tooltip("eigenvalue:Q", title="λᵢ", format=".5~g")],
    )
    return bars.properties(height=height)


def density_chart(frame, height=300):
    """The eigenvalue density (columns eigenvalue, density) on a symmetric log x axis and a log y axis.

    symlog keeps 0 and negative eigenvalues on the axis while spreading the decades of the large ones.
    """
    floor = float(frame["density"].max()) * DENSITY_RANGE
    shown = frame.assign(shown=np.maximum(frame["density"], floor))
    ticks = log_ticks([floor, shown["shown"].max()], max_ticks=5)
    x_scale, x_axis = symlog(frame["eigenvalue"], 1e-2)
    base = alt.Chart(shown, title=alt.Title("Eigenvalue density", subtitle="stochastic Lanczos quadrature"))
    area = base.mark_area(opacity=0.35, color="#4e79a7", line={"color": "#4e79a7"}).encode(
        x=alt.X("eigenvalue:Q", title="eigenvalue λ (symmetric log scale)", scale=x_scale, axis=x_axis),
        y=alt.Y(
            "shown:Q",
            title="density (log scale)",
            scale=alt.Scale(type="log", domain=log_domain(ticks)),
            axis=alt.Axis(values=ticks, format="~g"),
        ),
        tooltip=[alt.Tooltip("eigenvalue:Q", title="λ", format=NUMBER), alt.Tooltip("density:Q", format=NUMBER)],
    )
    zero = alt.Chart(pd.DataFrame({"eigenvalue": [0.0], "note": ["λ = 0: left of it, the loss curves down"]}))
    rule = zero.mark_rule(color="#e15759", strokeDash=[4, 3]).encode(x="eigenvalue:Q", tooltip=["note:N"])
    return alt.layer(area, rule).properties(height=height)


def loss_curves_chart(frame, title, x_title, height=300):
    """L(θ + α d) per direction (columns direction, alpha, loss, taylor), solid, with its Taylor parabola dashed."""
    names = list(dict.fromkeys(frame["direction"]))
    base = alt.Chart(frame, title=alt.Title(title, subtitle="dashed: L + α ∇Lᵀd + ½α² dᵀHd, the quadratic model"))
    encode = {
        "x": alt.X("alpha:Q", title=x_title),
        "color": alt.Color(
            "direction:N", scale=distinct_scale(names), title=None, legend=alt.Legend(orient="top", labelLimit=260)
        ),
    }
    tooltip = [
        alt.Tooltip("direction:N", title="Direction"),
        alt.Tooltip("alpha:Q", title="α", format=".3~g"),
        alt.Tooltip("loss:Q", title="Loss", format=".5~g"),
        alt.Tooltip("taylor:Q", title="Quadratic model", format=".5~g"),
    ]
    loss = base.mark_line(strokeWidth=3).encode(y=alt.Y("loss:Q", title="loss L"), tooltip=tooltip, **encode)
    taylor = base.mark_line(strokeWidth=1.5, strokeDash=[5, 4]).encode(y="taylor:Q", tooltip=tooltip, **encode)
    return alt.layer(taylor, loss).properties(height=height)


def loss_surface_chart(frame, title, axis_titles, height=360):
    """L(θ + α d₁ + β d₂) on an even grid (columns alpha, beta, loss), coloured in bands like a contour map."""
    da, db = (np.diff(np.unique(frame[c]))[:1].sum() or 1.0 for c in ("alpha", "beta"))  # grid steps
    cells = frame.assign(
        a0=frame.alpha - da / 2, a1=frame.alpha + da / 2, b0=frame.beta - db / 2, b1=frame.beta + db / 2
    )
    base = alt.Chart(cells, title=alt.Title(title, subtitle="the current weights at the centre (×)"))
    rects = base.mark_rect().encode(
        x=alt.X("a0:Q", title=axis_titles[0], scale=alt.Scale(nice=False, zero=False)),
        x2="a1:Q",
        y=alt.Y("b0:Q", title=axis_titles[1], scale=alt.Scale(nice=False, zero=False)),
        y2="b1:Q",
        color=alt.Color("loss:Q", bin=alt.Bin(maxbins=12), scale=alt.Scale(scheme="viridis"), title="loss L"),
        stroke=alt.Stroke(
            "loss:Q", bin=alt.Bin(maxbins=12), scale=alt.Scale(scheme="viridis"), legend=None
        ),  # no seams
        tooltip=[
            alt.Tooltip("alpha:Q", title="α", format=".3~g"),
            alt.Tooltip("beta:Q", title="β", format=".3~g"),
            alt.Tooltip("loss:Q", title="Loss", format=".5~g"),
        ],
    )
    centre = (
        alt.Chart(frame[(frame.alpha == 0) & (frame.beta == 0)])
        .mark_point(shape="cross", size=160, filled=True, color="white", angle=45)
        .encode(x="alpha:Q", y="beta:Q", tooltip=[alt.Tooltip("loss:Q", title="Loss at the weights", format=".5~g")])
    )
    return alt.layer(rects, centre).properties(height=height)


def spectrum_training_chart(frame, height=300):
    """The top and the most negative eigenvalue per epoch (``spectrum_over_training``'s long frame), symlog y."""
    quantities = ["top eigenvalue", "most negative eigenvalue"]
    data = frame[frame["quantity"].isin(quantities)]
    y_scale, y_axis = symlog(data["value"], 1e-2)
    base = alt.Chart(
        data, title=alt.Title("The extremes of the spectrum during training", subtitle="same batch every epoch")
    )
    encode = {
        "x": alt.X("epoch:Q", title="epoch (0 = initial weights)", axis=alt.Axis(tickMinStep=1, format="d")),
        "y": alt.Y("value:Q", title="eigenvalue λ (symmetric log scale)", scale=y_scale, axis=y_axis),
        "color": alt.Color("quantity:N", scale=distinct_scale(quantities), title=None, legend=alt.Legend(orient="top")),
        "tooltip": [
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("quantity:N", title="What"),
            alt.Tooltip("value:Q", title="λ", format=".4~g"),
        ],
    }
    line = base.mark_line(strokeWidth=3).encode(**encode)
    points = base.mark_point(filled=True, size=50).encode(**encode)
    zero = (
        alt.Chart(pd.DataFrame({"value": [0.0]}))
        .mark_rule(color="#888", strokeDash=[4, 3])
        .encode(y="value:Q", tooltip=[alt.Tooltip("value:Q", title="λ")])
    )
    return alt.layer(zero, line, points).properties(height=height)


def negative_fraction_chart(frame, zero, height=300):
    """The share of eigenvalues below −zero · max |λ| per epoch (from the density), on a 0–100 % axis."""
    data = frame[frame["quantity"] == "fraction negative"]
    subtitle = f"below −{zero:.0%} of the largest |λ|, read from the density"
    base = alt.Chart(data, title=alt.Title("Share of clearly negative eigenvalues", subtitle=subtitle))
    encode = {
        "x": alt.X("epoch:Q", title="epoch (0 = initial weights)", axis=alt.Axis(tickMinStep=1, format="d")),
        "y": alt.Y("value:Q", title="share of eigenvalues", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="~%")),
        "tooltip": [alt.Tooltip("epoch:Q", title="Epoch"), alt.Tooltip("value:Q", title="Share below 0", format=".1%")],
    }
    line = base.mark_line(strokeWidth=3, color="#e15759").encode(**encode)
    points = base.mark_point(filled=True, size=50, color="#e15759").encode(**encode)
    return alt.layer(line, points).properties(height=height)

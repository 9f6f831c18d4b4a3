"""Charts of the Saddle-points page: the surface with its critical points and optimizer paths, the Hessian's
eigen-directions, loss and eigenvalues per step, and the coin-flip chart."""

import altair as alt
import numpy as np
import pandas as pd

from app.charts.common import thin_steps
from core.analysis.curvature.surfaces import KINDS
from core.analysis.curvature.trajectories import OPTIMIZERS

OPTIMIZER_COLORS = dict(zip(OPTIMIZERS.values(), ["#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00"]))  # Okabe–Ito
KIND_SHAPES = alt.Scale(domain=list(KINDS), range=["triangle-down", "triangle-up", "cross", "diamond", "square"])
POINT_TOOLTIP = [
    alt.Tooltip("kind:N", title="Critical point"),
    alt.Tooltip("x:Q", format=".4g"),
    alt.Tooltip("y:Q", format=".4g"),
    alt.Tooltip("value:Q", title="f(x, y)", format=".4g"),
    alt.Tooltip("eig1:Q", title="λ₁", format=".4g"),
    alt.Tooltip("eig2:Q", title="λ₂", format=".4g"),
]


def optimizer_scale(paths):
    """One fixed colour per optimizer on every chart; the legend lists only those drawn."""
    names = [o for o in OPTIMIZER_COLORS if o in set(paths["optimizer"])]
    return alt.Scale(domain=names, range=[OPTIMIZER_COLORS[o] for o in names])


def surface_chart(grid, critical, paths, eigen=None, xlim=None, ylim=None, height=460):
    """Heatmap of f(x, y) with the critical points (shape by kind), the optimizer paths and, optionally,
    the eigen-directions of the Hessian at a selected point (``eigen_frame``)."""
    x_scale = alt.Scale(domain=list(xlim or (grid.x.min(), grid.x_end.max())), nice=False)
    y_scale = alt.Scale(domain=list(ylim or (grid.y.min(), grid.y_end.max())), nice=False)
    cells = (
        alt.Chart(grid)
        .mark_rect()
        .encode(
            x=alt.X("x:Q", title="x", scale=x_scale),
            x2="x_end:Q",
            y=alt.Y("y:Q", title="y", scale=y_scale),
            y2="y_end:Q",
            color=alt.Color(
                "value:Q",
                scale=alt.Scale(type="quantile", scheme={"name": "cividis", "count": 12}),
                title=["f(x, y)", "(equal-area bands)"],
            ),
            tooltip=[
                alt.Tooltip("x:Q", format=".3g"),
                alt.Tooltip("y:Q", format=".3g"),
                alt.Tooltip("value:Q", title="f(x, y)", format=".4g"),
            ],
        )
    )
    shown = thin_steps(paths, by="optimizer")
    base = alt.Chart(shown).encode(
        x=alt.X("x:Q", scale=x_scale),
        y=alt.Y("y:Q", scale=y_scale),
        order="step:Q",
        tooltip=[
            alt.Tooltip("optimizer:N", title="Optimizer"),
            alt.Tooltip("step:Q", title="Step"),
            alt.Tooltip("x:Q", format=".4g"),
            alt.Tooltip("y:Q", format=".4g"),
            alt.Tooltip("loss:Q", title="f(x, y)", format=".4g"),
        ],
    )
    halo = base.mark_line(strokeWidth=6, color="white", clip=True).encode(detail="optimizer:N")
    line = base.mark_line(strokeWidth=3, clip=True).encode(
        color=alt.Color("optimizer:N", scale=optimizer_scale(paths), title="Optimizer")
    )
    ends = shown[shown["step"] == shown.groupby("optimizer")["step"].transform("max")]
    now = base.properties(data=ends).mark_circle(size=160, stroke="black", strokeWidth=1.5, opacity=1, clip=True)
    now = now.encode(color=alt.Color("optimizer:N", scale=optimizer_scale(paths), legend=None))
    start = base.properties(data=shown[shown["step"] == 0].head(1)).mark_point(
        shape="circle", size=220, filled=True, fill="white", stroke="black", strokeWidth=2, opacity=1, clip=True
    )
    points = (
        alt.Chart(critical)
        .mark_point(filled=True, size=260, fill="white", stroke="black", strokeWidth=2, opacity=1, clip=True)
        .encode(
            x=alt.X("x:Q", scale=x_scale),
            y=alt.Y("y:Q", scale=y_scale),
            shape=alt.Shape("kind:N", scale=KIND_SHAPES, title="Critical point"),
            tooltip=POINT_TOOLTIP,
        )
    )
    layers = [cells, halo, line, start, now, points]
    if eigen is not None:
        layers += eigen_layers(eigen, x_scale, y_scale)
    return (
        alt.layer(*layers)
        .resolve_scale(color="independent")
        .properties(title="The surface, its critical points and the optimizer paths", height=height)
    )


def eigen_frame(center, directions, xlim, ylim):
    """Segments along ±vᵢ through the selected point, a fifth of the plot wide, from ``gd_step_near``'s rows."""
    s = 0.2 * min(xlim[1] - xlim[0], ylim[1] - ylim[0])
    cx, cy = center
    rows = []
    for r in directions.itertuples():
        sign = "curves up" if r.eigenvalue > 0 else "curves down" if r.eigenvalue < 0 else "flat"
        label = f"λ{'₁₂'[r.direction - 1]} = {r.eigenvalue:.3g} ({sign})"
        rows.append(
            {
                "direction": f"v{'₁₂'[r.direction - 1]}",
                "eigenvalue": r.eigenvalue,
                "label": label,
                "x": cx - s * r.vx,
                "y": cy - s * r.vy,
                "x_end": cx + s * r.vx,
                "y_end": cy + s * r.vy,
                "vx": r.vx,
                "vy": r.vy,
                "factor": r.factor,
            }
        )
    return pd.DataFrame(rows)


def eigen_layers(eigen, x_scale, y_scale):
    """The eigen-direction segments with their eigenvalues written at one end (white-outlined text)."""
    tooltip = [
        alt.Tooltip("direction:N", title="Eigenvector"),
        alt.Tooltip("vx:Q", format=".3f"),
        alt.Tooltip("vy:Q", format=".3f"),
        alt.Tooltip("eigenvalue:Q", title="λ", format=".4g"),
        alt.Tooltip("factor:Q", title="1 − ηλ", format=".4g"),
    ]
    base = alt.Chart(eigen).encode(x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), tooltip=tooltip)
    rule = base.mark_rule(strokeWidth=4, color="black", strokeDash=[8, 4]).encode(x2="x_end:Q", y2="y_end:Q")
    ends = base.mark_point(shape="square", size=60, filled=True, color="black").encode(x="x_end:Q", y="y_end:Q")
    text = base.encode(x="x_end:Q", y="y_end:Q", text="label:N")
    outline = text.mark_text(align="left", dx=8, dy=-8, fontSize=15, fontWeight="bold", stroke="white", strokeWidth=4)
    label = text.mark_text(align="left", dx=8, dy=-8, fontSize=15, fontWeight="bold", color="black")
    return [rule, ends, outline, label]


def _step_rule(step):
    """A dashed vertical rule at the step the surface chart shows."""
    return (
        alt.Chart(pd.DataFrame({"step": [step]}))
        .mark_rule(color="#555", strokeDash=[4, 4])
        .encode(x="step:Q", tooltip=[alt.Tooltip("step:Q", title="Shown up to step")])
    )


def loss_chart(paths, step, height=260):
    """f(x, y) per step for each optimizer; the dashed rule marks the step the surface chart shows.

    The y axis is symmetric-log (linear near 0, logarithmic beyond ±1): a path that falls off an
    unbounded surface does not flatten the others.
    """
    base = alt.Chart(thin_steps(paths, by="optimizer")).encode(
        x=alt.X("step:Q", title="Step"),
        y=alt.Y("loss:Q", title="f(x, y) (symmetric log scale)", scale=alt.Scale(type="symlog")),
        color=alt.Color("optimizer:N", scale=optimizer_scale(paths), title="Optimizer"),
        tooltip=[
            alt.Tooltip("optimizer:N", title="Optimizer"),
            alt.Tooltip("step:Q", title="Step"),
            alt.Tooltip("loss:Q", title="f(x, y)", format=".4g"),
        ],
    )
    line = base.mark_line(strokeWidth=3)
    return alt.layer(line, _step_rule(step)).properties(title="Loss per step", height=height)


def eigenvalue_chart(paths, step, height=260):
    """The Hessian's eigenvalues λ₁ ≤ λ₂ at each point of each path; below the zero line means curving down."""
    long = thin_steps(paths, by="optimizer").melt(
        ["optimizer", "step"], ["eig1", "eig2"], var_name="which", value_name="eigenvalue"
    )
    long["which"] = long["which"].map({"eig1": "λ₁ (smaller)", "eig2": "λ₂ (larger)"})
    base = alt.Chart(long).encode(
        x=alt.X("step:Q", title="Step"),
        y=alt.Y("eigenvalue:Q", title="Eigenvalue of the Hessian"),
        color=alt.Color("optimizer:N", scale=optimizer_scale(paths), title="Optimizer"),
        strokeDash=alt.StrokeDash("which:N", title="Eigenvalue"),
        tooltip=[
            alt.Tooltip("optimizer:N", title="Optimizer"),
            alt.Tooltip("step:Q", title="Step"),
            alt.Tooltip("which:N", title="Eigenvalue"),
            alt.Tooltip("eigenvalue:Q", title="λ", format=".4g"),
        ],
    )
    line = base.mark_line(strokeWidth=2.5)
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="black").encode(y="y:Q")
    return alt.layer(zero, line, _step_rule(step)).properties(title="Curvature along the path", height=height)


def coin_flip_chart(fractions, height=340):
    """Measured fraction of positive-definite GOE matrices (± one standard error) beside 2⁻ᵈ, log y axis;
    where none was found, the 95 % upper bound 3/n is drawn instead."""
    n = int(fractions["samples"].iloc[0])
    coin = fractions.assign(series="2⁻ᵈ: independent coin flips", value=fractions["coin_flip"])
    found = fractions[fractions["positive"] > 0]
    measured = found.assign(
        series=f"measured: {n:,} random symmetric matrices",
        value=found["fraction"],
        low=np.maximum(found["fraction"] - found["std_error"], found["fraction"] / 10),  # > 0: log axis
        high=found["fraction"] + found["std_error"],
    )
    none = fractions[fractions["positive"] == 0]
    bound = none.assign(series=f"none found: below 3/n = {3 / n:.0e}", value=none["upper95"])
    frame = pd.concat([coin, measured, bound], ignore_index=True)
    series = list(dict.fromkeys(frame["series"]))
    colors = alt.Scale(domain=series, range=["#7f7f7f", "#0072B2", "#D55E00"][: len(series)])
    shapes = alt.Scale(domain=series, range=["circle", "circle", "triangle-down"][: len(series)])
    base = alt.Chart(frame).encode(
        x=alt.X(
            "d:Q", title="Dimension d (number of Hessian eigenvalues)", scale=alt.Scale(domain=[0, 31], nice=False)
        ),
        y=alt.Y(
            "value:Q", title="Fraction that are minima (log)", scale=alt.Scale(type="log"), axis=alt.Axis(format="~e")
        ),
        color=alt.Color(
            "series:N",
            scale=colors,
            title=None,
            legend=alt.Legend(orient="top-right", labelLimit=0, fillColor="white", padding=6),
        ),
        tooltip=[
            alt.Tooltip("series:N", title="Series"),
            alt.Tooltip("d:Q", title="d"),
            alt.Tooltip("value:Q", title="Fraction", format=".3~e"),
            alt.Tooltip("positive:Q", title="Count"),
            alt.Tooltip("std_error:Q", title="Standard error", format=".2~e"),
        ],
    )
    line = base.transform_filter(alt.datum.series == series[0]).mark_line(strokeDash=[6, 4], strokeWidth=2)
    points = base.mark_point(filled=True, size=80, opacity=1).encode(
        shape=alt.Shape("series:N", scale=shapes, title=None, legend=None)
    )
    bars = (
        alt.Chart(measured)
        .mark_errorbar(ticks=True, color="#0072B2")
        .encode(
            x="d:Q",
            y=alt.Y("low:Q", title="Fraction that are minima (log)"),
            y2="high:Q",
            tooltip=[alt.Tooltip("d:Q", title="d"), alt.Tooltip("std_error:Q", title="Standard error", format=".2~e")],
        )
    )
    return alt.layer(line, bars, points).properties(
        title="How often is a random critical point a minimum?", height=height
    )

"""Saddle points: optimizers on 2-D surfaces, the Hessian's eigenvalues along the way, and the coin-flip argument."""

import numpy as np
import streamlit as st

from app.charts.display import chart_height, show_chart
from app.charts.saddle import coin_flip_chart, eigen_frame, eigenvalue_chart, loss_chart, surface_chart
from app.controls import keep, sidebar
from app.text import plain
from core.analysis.curvature.random_matrices import goe_positive_fraction
from core.analysis.curvature.surface_parser import ALLOWED, get_surface
from core.analysis.curvature.surfaces import MAX_CRITICAL, SURFACES, SurfaceError, critical_points, surface_grid
from core.analysis.curvature.trajectories import (
    OPTIMIZERS,
    TrajectoryError,
    gd_step_near,
    trajectories,
)
from core.analysis.text.gd_steps import gd_step_latex, gd_step_sentences
from core.analysis.text.notation import SUPERSCRIPTS

DEFAULTS = {
    "w_sad_surface": "saddle",
    "w_sad_expr": "sin(2x) cos(2y) + 0.1 x^2",
    "w_sad_x0": 1.0,
    "w_sad_y0": 0.001,
    "w_sad_opt": ["gd", "momentum", "noisy"],
    "w_sad_lr": 0.1,
    "w_sad_steps": 40,
    "w_sad_noise": 0.1,
    "w_sad_seed": 0,
}
COLUMNS = {"x": "x", "y": "y", "value": "f(x, y)", "loss": "f(x, y)", "eig1": "λ₁", "eig2": "λ₂"}  # column: title
NUMBERS = {c: st.column_config.NumberColumn(title, format="%.4g") for c, title in COLUMNS.items()}
STALL = {
    "w_sad_surface": "double_well",
    "w_sad_x0": 1e-8,
    "w_sad_y0": 1.5,
    "w_sad_opt": ["gd", "momentum", "noisy"],
    "w_sad_lr": 0.05,
    "w_sad_steps": 60,
    "w_sad_step": 60,
    "w_sad_noise": 0.1,
    "w_sad_seed": 0,
}


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_surface(key, text):
    return get_surface(key, text)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_landscape(key, text):
    surface = cached_surface(key, text)
    return surface_grid(surface), critical_points(surface)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_paths(key, text, start, optimizers, lr, steps, noise, seed):
    return trajectories(cached_surface(key, text), start, optimizers, lr, steps, noise, seed)


@st.cache_data(show_spinner="Drawing a million random symmetric matrices…")
def cached_coin_flip():
    return goe_positive_fraction()


sidebar()
st.title("Saddle points")
st.caption("Where the gradient is zero, the Hessian's eigenvalues decide: a minimum, a maximum or a saddle.")
for name, value in DEFAULTS.items():
    keep(name, value)
c1, c2, c3, c4 = st.columns([1.3, 1, 1.4, 1], gap="medium")
key = c1.selectbox(
    "Surface",
    [*SURFACES, "typed"],
    key="w_sad_surface",
    format_func=lambda k: SURFACES[k].title if k in SURFACES else "Type your own…",
)
text = (
    c1.text_input(
        "f(x, y) =",
        key="w_sad_expr",
        max_chars=120,
        help=f"{ALLOWED[0].upper()}{ALLOWED[1:]}; drawn on the square [−2, 2]².",
    )
    if key == "typed"
    else ""
)
x0 = c2.number_input("Start x₀", -10.0, 10.0, step=0.1, format="%.4g", key="w_sad_x0")
y0 = c2.number_input("Start y₀", -10.0, 10.0, step=0.1, format="%.4g", key="w_sad_y0")
chosen = c3.multiselect("Optimizers", list(OPTIMIZERS), format_func=OPTIMIZERS.get, key="w_sad_opt")
lr = c3.number_input("Learning rate η", 0.0001, 5.0, step=0.01, format="%.4g", key="w_sad_lr")
steps = c4.slider("Steps", 1, 500, key="w_sad_steps")
noise = c4.number_input("Noise σ (SGD + noise)", 0.0, 5.0, step=0.05, format="%.3g", key="w_sad_noise")
seed = c4.number_input("Seed", 0, 9999, step=1, key="w_sad_seed")
c3.button(
    "Stall at a saddle, then escape",
    key="w_sad_stall",
    on_click=lambda: st.session_state.update(STALL),
    help="Start a hair (10⁻⁸) off the stable manifold of the double well's saddle.",
)

try:
    surface = cached_surface(key, text)
    grid, critical = cached_landscape(key, text)
except SurfaceError as e:
    st.error(f"This surface cannot be used: {plain(e)}.", icon=":material/error:")
    st.stop()
if not chosen:
    st.info("Pick at least one optimizer.", icon=":material/route:")
    st.stop()
try:
    paths = cached_paths(key, text, (x0, y0), tuple(chosen), lr, steps, noise, seed)
except TrajectoryError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
st.latex(rf"f(x, y) = {surface.tex}")
for message in paths.summary["message"][paths.summary["diverged"]]:
    st.warning(message, icon=":material/trending_down:")

if st.session_state.get("sad_steps_seen") != steps:  # new number of steps: show whole paths
    st.session_state.update(sad_steps_seen=steps, w_sad_step=steps)
k = st.slider("Show the paths up to step", 0, steps, key="w_sad_step")
near = np.hypot(critical["x"] - x0, critical["y"] - y0)
names = [f"{r.kind} at ({r.x:.4g}, {r.y:.4g})" for r in critical.itertuples()]
if names and (st.session_state.get("sad_points_of") != (key, text) or st.session_state.get("w_sad_point") not in names):
    st.session_state.update(sad_points_of=(key, text), w_sad_point=names[int(np.argmin(near))])  # nearest the start
left, right = st.columns([2.2, 1], gap="medium")
directions = eigen = None
if names:
    picked = right.selectbox("Critical point", names, key="w_sad_point")
    center = critical.iloc[names.index(picked)]
    directions = gd_step_near(surface, (center.x, center.y), (x0, y0), lr)  # one row per eigenvector
    eigen = eigen_frame((center.x, center.y), directions, surface.xlim, surface.ylim)
else:
    right.info("No critical point (∇f = 0) in the plotted square.", icon=":material/search_off:")
shown = paths.frame[paths.frame["step"] <= k]
show_chart(surface_chart(grid, critical, shown, eigen, surface.xlim, surface.ylim, chart_height(470)), left)
right.dataframe(
    critical[["kind", "eig1", "eig2", "value", "x", "y"]], hide_index=True, width="stretch", column_config=NUMBERS
)  # the kind, the eigenvalues that decide it and f first: a narrow table scrolls to x, y (in the picker's names too)
if len(critical) == MAX_CRITICAL:
    right.caption(f"The {MAX_CRITICAL} lowest critical points; the surface has more.")
now = shown.groupby("optimizer", sort=False).tail(1)[["optimizer", "step", "x", "y", "loss", "eig1", "eig2"]]
st.dataframe(now, hide_index=True, width="stretch", column_config=NUMBERS)
st.caption(f"Where each optimizer is at step {k}; λ₁ ≤ λ₂ are the Hessian's eigenvalues there.")
a, b = st.columns(2, gap="medium")
show_chart(loss_chart(paths.frame, k, chart_height(260)), a)
show_chart(eigenvalue_chart(paths.frame, k, chart_height(260)), b)

if directions is not None:
    st.subheader(f"Gradient descent near the {picked}")
    for line in gd_step_latex(directions, surface.hessian(center.x, center.y), lr, k):
        st.latex(line)
    st.markdown(
        "u = (u₁, u₂) are the coordinates of the start (x₀, y₀) − (x*, y*) along the eigenvectors v₁, v₂. "
        "Near a critical point ∇f ≈ H (p − p*), so each step multiplies uᵢ by (1 − ηλᵢ):\n- "
        + "\n- ".join(gd_step_sentences(directions))
    )
    actual, predicted = directions["actual"], directions["predicted"]
    st.caption(
        f"One true gradient-descent step from the start gives u' = ({actual[0]:.4g}, {actual[1]:.4g}); the "
        f"linear picture predicts ({predicted[0]:.4g}, {predicted[1]:.4g}) "
        "(exact on a quadratic surface such as x² − y²)."
    )

st.subheader("The coin flip: why critical points in high dimensions are saddles")
coin = cached_coin_flip()
show_chart(coin_flip_chart(coin, chart_height(380)))
n, frac = int(coin.samples[0]), coin.set_index("d")["fraction"]
last = int(coin.d[coin.positive > 0].max())  # the largest d with a positive-definite matrix among the n
power = f"2⁻{str(last).translate(SUPERSCRIPTS)} = {0.5**last:.1e}"
st.markdown(
    f"If each eigenvalue's sign were a coin flip, a critical point in d dimensions would be a minimum with chance "
    f"2⁻ᵈ. Random symmetric matrices do worse: of {n:,} we drew, {frac[1]:.3f} were positive definite at d = 1, "
    f"{frac[2]:.3f} at d = 2 (2⁻² = 0.25), {coin.positive[last - 1]:,} in {n:,} at d = {last} ({power}), and none from "
    f"d = {last + 1} on. A network's loss has millions of weights: unless its Hessian is far from random, almost "
    "every critical point it meets is a saddle, so the question is how fast an optimizer leaves saddles, not "
    "whether it is trapped in a bad minimum."
)
st.caption(
    f"GOE matrices, (G + Gᵀ)/2 with G standard normal, seed 0; error bars ± one standard error; where no "
    f"matrix of the {n:,} was positive definite the triangle marks the 95 % upper bound 3/n."
)

"""Gradient checkpointing: peak memory and time per step against depth, measured, and the backward step by step."""

import streamlit as st

from app.charts.checkpointing import k_chart, layout_chart, steps_chart, versus_depth
from app.charts.display import chart_height, show_chart
from app.controls import keep, label, sidebar
from core.analysis.checkpointing.memory import MeasurementError, check_sizes, variant_name
from core.analysis.checkpointing.steps import backward_steps, checkpoint_layout
from core.analysis.checkpointing.sweeps import (
    best_k,
    depth_sweep,
    estimate_seconds,
    fit_slopes,
    k_grid,
    k_sweep,
    reference_slopes,
)

DEPTHS = (2, 4, 8, 16, 32, 64, 128, 256)  # hidden layers offered for the sweep
WIDTHS, BATCHES = (16, 32, 64, 128, 256, 512, 1024), (8, 16, 32, 64, 128, 256, 512, 1024)
DEFAULTS = {
    "w_ckpt_from": 4,
    "w_ckpt_to": 128,
    "w_ckpt_width": 128,
    "w_ckpt_batch": 64,
    "w_ckpt_k": 4,
    "w_ckpt_backend": "numpy",
    "w_ckpt_small": 8,
}
REPS = 2  # timed steps per setting on this page (the benchmark takes 5)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_sweeps(depths, width, batch, k, backends):
    """The depth sweep (plain, √n, k) and the k sweep at the largest depth, with a progress bar.

    The bar is made inside the cached function, so a cache hit (another session measuring the same setup)
    replays it instead of writing to a bar that no longer exists.
    """
    box = st.empty()
    bar = box.progress(0.0, text="Measuring…")
    sweep = depth_sweep(
        depths,
        width,
        batch,
        (None, "sqrt", k),
        backends,
        REPS,
        progress=lambda d, t: bar.progress(0.7 * d / t, text=f"Depth sweep: {d} of {t}"),
    )
    ks = k_sweep(
        depths[-1],
        width,
        batch,
        backend=backends[0],
        reps=0,
        progress=lambda d, t: bar.progress(0.7 + 0.3 * d / t, text=f"Memory against k: {d} of {t}"),
    )
    box.empty()
    return sweep, ks


@st.cache_data(max_entries=16, show_spinner=False)
def cached_estimate(depths, width, batch, backends):
    """Seconds ``cached_sweeps`` will take (any k: each checkpointed setting costs about the same)."""
    return estimate_seconds(depths, width, batch, (None, "sqrt", 4), backends, REPS) + estimate_seconds(
        depths[-1:], width, batch, (None, *k_grid(depths[-1] + 1)), backends[:1], 0
    )


sidebar()
st.title("Gradient checkpointing")
st.caption("Keep every k-th layer's input, recompute the rest during the backward: memory for time, measured.")
for key, value in DEFAULTS.items():
    keep(key, value)
c1, c2, c3, c4 = st.columns([2, 1.3, 1, 1.2], gap="medium")
lo = c1.select_slider("Hidden layers n: from", DEPTHS, key="w_ckpt_from")
hi = c1.select_slider("… to", DEPTHS, key="w_ckpt_to")
width = c2.select_slider("Units per layer", WIDTHS, key="w_ckpt_width")
batch = c2.select_slider("Samples per step", BATCHES, key="w_ckpt_batch")
k = c3.number_input("Your k", 1, 257, step=1, key="w_ckpt_k", help="Layers per segment: a checkpoint every k layers.")
backend = c4.radio(
    "Backend",
    ("numpy", "torch", "both"),
    key="w_ckpt_backend",
    format_func=lambda b: "both" if b == "both" else label(b),
)
depths = tuple(d for d in DEPTHS if lo <= d <= hi)
backends = ("numpy", "torch") if backend == "both" else (backend,)
if lo >= hi:
    st.info("Pick a first depth below the last one: the slopes need at least two depths.", icon=":material/tune:")
    st.stop()
try:
    check_sizes(hi, width, batch, (k,))
except MeasurementError as e:
    st.error(f"This sweep cannot run: {e}.", icon=":material/memory:")
    st.stop()

setup = (depths, width, batch, k, backends)
measured = st.session_state.setdefault("ckpt_measured", [])
seconds = cached_estimate(depths, width, batch, backends)
took = f"about {seconds:.0f} s" if seconds >= 1 else "under a second"
c1.button(
    f"Measure ({took})",
    key="w_ckpt_run",
    type="primary",
    disabled=setup in measured,
    on_click=measured.append,
    args=(setup,),
    help="Estimated from a few steps timed when the page opened; "
    "while other work shares the processor it can take a few times longer.",
)
if setup not in measured:
    setups = len(depths) * 3 * len(backends)
    st.info(
        f"Press **Measure** to time and measure training steps of nets of {lo} to {hi} hidden layers × {width} "
        f"units ({setups} setups), and the U curve at {hi} layers.",
        icon=":material/timer:",
    )
else:
    sweep, ks = cached_sweeps(depths, width, batch, k, backends)
    left, right = st.columns(2, gap="medium")
    show_chart(
        versus_depth(
            sweep, reference_slopes(sweep, "peak_mb"), "peak_mb", "Peak memory of one training step", chart_height(340)
        ),
        left,
        name="checkpoint-memory",
    )
    show_chart(
        versus_depth(sweep, reference_slopes(sweep, "seconds"), "seconds", "Time per training step", chart_height(340)),
        right,
        name="checkpoint-time",
    )
    first = sweep[(sweep.backend == backends[0]) & (sweep.depth == hi)].set_index("variant")
    plain, sqrt = first.loc[variant_name(None)], first.loc[variant_name("sqrt")]
    fits = fit_slopes(sweep).query("quantity == 'peak_bytes' and backend == @backends[0]").set_index("variant")
    s_plain, s_sqrt = fits.slope[variant_name(None)], fits.slope[variant_name("sqrt")]
    best, slower = best_k(ks), sqrt.seconds / plain.seconds
    cost = (
        ": the backward recomputes every segment once, about one more forward pass (a forward is roughly a third "
        "of a step)"
        if slower >= 1.05
        else ", less than the one extra forward pass (about a third of a step) that "
        "the recomputation costs in theory: at this size it is lost in the noise of the timings"
    )
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(
        f"Memory at n = {hi}, k = {sqrt.k}",
        f"{sqrt.peak_mb:.3g} MB",
        f"{sqrt.peak_mb / plain.peak_mb - 1:+.0%}",
        delta_color="inverse",
        help=f"Plain backprop: {plain.peak_mb:.3g} MB ({label(backends[0])})",
    )
    m2.metric("Time per step", f"{slower:.2f}× plain", help="≈ one more forward pass per step.")
    m3.metric(
        "Memory ∝ nˢ, s =",
        f"{s_sqrt:.2f} vs {s_plain:.2f}",
        help="Fitted log-log slope with checkpoints every ⌈√(n+1)⌉ layers vs plain backprop.",
    )
    m4.metric(f"Best k at n = {hi}", best, help="The least measured peak memory in the curve below.")
    st.markdown(
        f"With **{hi} hidden layers** on {label(backends[0])}, plain backprop peaks at **{plain.peak_mb:.3g} MB**; "
        f"a checkpoint every **k = {sqrt.k}** layers peaks at **{sqrt.peak_mb:.3g} MB**, "
        f"{plain.peak_mb / sqrt.peak_mb:.1f}× less, for **{slower:.2f}×** the time per step{cost}. Memory grows like "
        f"$n^{{{s_plain:.2f}}}$ without checkpoints and like $n^{{{s_sqrt:.2f}}}$ with them; the least memory at this "
        "depth is "
        f"at **k = {best}**."
    )
    show_chart(k_chart(ks, best, chart_height(300)), name="checkpoint-k")
    st.caption(
        f"{label(backends[0])}. Small k: ⌈L/k⌉ checkpoints pile up; large k: the segment recomputed at "
        "once is long. The sum is smallest near k = √L (L = n + 1 layers with weights). NumPy: tracemalloc "
        "peak of the step; PyTorch: peak bytes of the tensors saved for backward, recomputed too."
    )

st.subheader("What the forward keeps, and the backward step by step")
small = st.number_input("Hidden layers of the small net", 1, 16, step=1, key="w_ckpt_small")
k_small = min(int(k), small + 1)
show_chart(layout_chart(checkpoint_layout(small, k_small), chart_height(130)), name="checkpoint-layout")
steps = backward_steps(small, k_small)
show_chart(steps_chart(steps, chart_height(26 * steps.step.nunique())), name="checkpoint-steps")
st.caption(
    f"A net of {small} hidden layers with k = {k_small}, run by the NumPy MLP and watched while it runs. Plain "
    f"backprop holds all {small + 1} layers at once; here at most {steps.in_memory.max()} layers hold "
    "activations: the checkpoints not yet used, plus the segment being backpropagated."
)

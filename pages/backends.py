"""NumPy vs PyTorch: the same network from the same weights on the same mini-batches, side by side."""

import pandas as pd
import streamlit as st

from app.charts.backends import curves_chart, loss_difference_chart, parameter_difference_chart, time_chart
from app.charts.display import chart_height, show_chart, show_table
from app.controls import clamp, config_summary, keep, sidebar
from app.session import data_key, dataset_or_stop, trainer_or_stop
from core.analysis.backend_compare import (
    BACKEND_LABELS,
    BENCHMARK_FILE,
    MAX_SAMPLES,
    MAX_STEPS,
    CompareError,
    compare_backends,
    cuda_available,
    load_benchmark,
    time_epochs,
    timing_summary,
)

DTYPES = ("float64", "float32")
REPS = 3  # timed epochs per backend, after one warm-up epoch


@st.cache_data(max_entries=8, show_spinner=False)
def cached_comparison(key, _data, _config, steps, backends):
    return compare_backends(_data, _config, steps, backends=backends)


@st.cache_data(max_entries=2, show_spinner=False)
def cached_benchmark(modified):
    """The benchmark's figures (re-read when the file changes), or the reason they cannot be read."""
    try:
        return load_benchmark()
    except CompareError as e:
        return str(e)


def labelled(frame, dtype):
    return frame.assign(dtype=dtype, backend=frame["backend"].map(BACKEND_LABELS))


config = sidebar()
data = dataset_or_stop(config)
trainer_or_stop(config, data)  # the same checks as every page: this network can be built

st.title("NumPy vs PyTorch")
st.caption(
    f"{config_summary(config)}  \nBoth backends start from the initial weights of seed {config.seed} and take "
    "the same mini-batches in the same order."
)
if len(data.y_train) > MAX_SAMPLES:
    st.info(f"This page compares on at most {MAX_SAMPLES:,} training samples: pick a smaller data set.")
    st.stop()
backends = ("numpy", "torch", "cuda") if cuda_available() else ("numpy", "torch")

keep("w_cmp_steps", 200)
keep("w_cmp_dtypes", list(DTYPES))
c1, c2 = st.columns([1, 2], gap="large")
steps = c1.number_input(f"Training steps (1 to {MAX_STEPS:,})", 1, MAX_STEPS, step=50, key="w_cmp_steps")
dtypes = c2.multiselect(
    "Precision", DTYPES, key="w_cmp_dtypes", help="float32 keeps about 7 significant digits, float64 about 16."
)
if not dtypes:
    st.info("Pick at least one precision.", icon=":material/tune:")
    st.stop()
base = config.train_config().replace(epochs=1, track_grad_norms=False)  # the run's architecture and optimizer
configs = {d: base.replace(dtype=d) for d in DTYPES}
with st.spinner(f"Training {len(backends)} backends in lockstep for {steps:,} steps in {' and '.join(dtypes)}…"):
    runs = {
        d: cached_comparison((data_key(config), repr(configs[d])), data, configs[d], steps, backends) for d in dtypes
    }
for d, run in runs.items():
    if run.diverged:
        st.warning(f"{d}: {run.diverged}. The charts stop there.", icon=":material/trending_up:")

cols = st.columns(len(dtypes) * 2)
for i, (d, run) in enumerate(runs.items()):
    cols[2 * i].metric(
        f"{d}: largest |Δ loss|",
        f"{run.loss_diffs['abs_diff'].max():.1e}",
        help="Over every step: |PyTorch's mini-batch loss − NumPy's|.",
    )
    cols[2 * i + 1].metric(
        f"{d}: largest |Δ weight|",
        f"{run.weight_diffs['max_abs_diff'].max():.1e}",
        help="At the end, over every weight, bias and batch-norm array.",
    )

st.subheader("Loss and accuracy, both backends overlaid")
curves = pd.concat([labelled(run.steps, d) for d, run in runs.items()], ignore_index=True)
evals = pd.concat([labelled(run.evals, d) for d, run in runs.items()], ignore_index=True)
show_chart(
    curves_chart(curves, "loss", "Mini-batch loss at every step", "cross-entropy (log)", chart_height(220), log=True),
    width="content",
    name="loss-curves",
)
if len(evals):
    show_chart(
        curves_chart(evals, "accuracy", "Accuracy on the validation set", "accuracy", chart_height(220)),
        width="content",
        name="accuracy-curves",
    )
else:
    st.caption("The validation accuracy is measured every few steps: the run stopped before the first measurement.")
st.caption(
    "NumPy is drawn wide and pale, PyTorch dashed on top of it: where you see one line they agree to "
    "the pixel. The chart below shows by how much they really differ."
)

diffs = pd.concat([labelled(run.loss_diffs, d) for d, run in runs.items()], ignore_index=True)
show_chart(loss_difference_chart(diffs, chart_height(280)), name="loss-differences")
st.caption(
    "Both backends compute the same sums in a different order, so they round differently. In float64 the "
    "differences stay near machine ε (about 1e-16); in float32 they start near 1e-7 and grow as each step's "
    "round-off changes the weights the next step starts from."
)

st.subheader("Gradients and weights, layer by layer")
compared = max(int(run.grad_diffs["step"].max()) if len(run.grad_diffs) else 0 for run in runs.values())
if compared > 1:  # the steps whose gradients both backends computed (a diverged run stops early)
    clamp("w_cmp_step", 1, compared, compared)
    at = st.slider("Gradients at step", 1, compared, key="w_cmp_step")
else:
    at = compared
grads = pd.concat([labelled(run.grad_diffs[run.grad_diffs["step"] == at], d) for d, run in runs.items()])
left, right = st.columns(2, gap="medium")
if len(grads):
    show_chart(
        parameter_difference_chart(
            grads, f"Gradients at step {at}", "max |∂L/∂θ of PyTorch − of NumPy|", chart_height(280)
        ),
        left,
        name="gradient-differences",
    )
else:
    left.caption("The loss was not finite at the first step: there are no gradients to compare.")
weights = pd.concat([labelled(run.weight_diffs, d) for d, run in runs.items()])
ended = {d: int(run.steps["step"].max()) for d, run in runs.items()}
after = (
    f"after {steps:,} steps"
    if all(n == steps for n in ended.values())
    else "at the end: "
    + ", ".join(
        f"{d} after {n:,} steps" + (" (the last diverged)" if runs[d].diverged else "") for d, n in ended.items()
    )
)
show_chart(
    parameter_difference_chart(
        weights, "Weights at the end of the run", f"max |PyTorch − NumPy| {after}", chart_height(280)
    ),
    right,
    name="weight-differences",
)
if config.batch_norm:
    st.caption(
        "With batch norm, γ, β and the running mean and variance are compared too; the running estimates "
        "are buffers, updated by the forward pass, not by gradients."
    )

st.subheader("Memory of one training step")
memory = pd.concat([labelled(run.memory, d) for d, run in runs.items()], ignore_index=True)
memory["kB"] = memory["bytes"] / 1e3
kB = memory.pivot_table(index=["backend", "measure"], columns="dtype", values="kB", sort=False)[dtypes]
kB = kB.rename(columns=lambda d: f"{d} (kB)").rename_axis(columns=None).reset_index()
show_table(kB, formats={f"{d} (kB)": "{:,.1f}" for d in dtypes})
st.caption(
    "NumPy: the peak of Python's tracemalloc during the first step (every temporary array included) and the "
    "arrays its modules cache for backward. PyTorch: the tensors autograd saves for backward (counted with "
    "saved_tensors_hooks; its own allocator is invisible to tracemalloc). Kept for backward is the "
    "like-for-like number."
)

st.subheader("Time per epoch")
precision = config.dtype  # the sidebar's Precision
estimate = (REPS + 1) * sum(runs.get(precision, next(iter(runs.values()))).epoch_seconds().values())
clicked = st.button(
    f"Time {REPS} epochs of each backend in {precision} (about {max(1, round(estimate * 1.5))} s)",
    key="w_cmp_time",
    type="primary",
    help="One warm-up epoch, then three timed ones; the precision is the sidebar's.",
)
timings = st.session_state.setdefault("cmp_timings", {})
time_key = (data_key(config), repr(configs[precision]))
if clicked:
    bar = st.progress(0.0, "Warming up…")
    times = time_epochs(data, configs[precision], backends, REPS, progress=lambda f, text: bar.progress(f, text))
    bar.empty()
    timings[time_key] = timing_summary(times).assign(backend=lambda f: f["backend"].map(BACKEND_LABELS))
mine, bench = st.columns(2, gap="large")
if time_key in timings:
    summary = timings[time_key].assign(group=f"{data.n_features} inputs, {precision}")
    show_chart(
        time_chart(
            summary, "This data set, measured now", f"median of {REPS} epochs, min–max as a line", chart_height(200)
        ),
        mine,
        name="time-now",
    )
else:
    mine.info(
        f"Press the button to time {len(data.y_train):,} training samples per epoch on this machine.",
        icon=":material/timer:",
    )
if "cuda" not in backends:
    mine.caption(
        "No CUDA GPU on this machine, so PyTorch runs on the CPU only; where one is present it is a third bar."
    )
benchmark = cached_benchmark(BENCHMARK_FILE.stat().st_mtime if BENCHMARK_FILE.is_file() else None)
if benchmark is None or isinstance(benchmark, str):
    bench.info(benchmark or "No benchmark figures yet: run `python benchmarks/epoch_time.py`.", icon=":material/info:")
else:
    about, figures = benchmark
    figures = figures.rename(columns={"setting": "group"}).assign(backend=lambda f: f["backend"].map(BACKEND_LABELS))
    show_chart(
        time_chart(figures, "The course network on CIFAR-shaped data", about["network"], chart_height(300)),
        bench,
        name="time-benchmark",
    )
    bench.caption(
        f"From benchmarks/results/epoch_time.json, written by benchmarks/epoch_time.py on {about['measured']}: "
        f"{about['machine']}; median of {about['reps']} epochs."
    )

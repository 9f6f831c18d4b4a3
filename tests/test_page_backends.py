"""The NumPy-vs-PyTorch page, opened from the entrypoint; its numbers recomputed outside the app."""

import numpy as np
import pandas as pd
import pytest

from app.charts.backends import WHISKER_CAP, time_chart
from core.analysis.backend_compare import compare_backends, cuda_available, load_benchmark
from core.data import load_dataset
from core.training.config import TrainConfig
from tests.page_testing import captions, chart, charts, encoding_fields, open_page, table

torch = pytest.importorskip("torch")

MOONS = load_dataset("moons", n_samples=400, noise=0.2, seed=42)  # the default data set
# The default run (two moons, 2 × 8 tanh, SGD lr 0.3, batch 16, seed 42), as the page trains it.
DEFAULT = TrainConfig(hidden_dims=(8, 8), activation="tanh", lr=0.3, batch_size=16, seed=42, epochs=1)


def metrics(at):
    return {m.label: float(m.value) for m in at.metric}


def caption_text(at):
    return " ".join(captions(at))


def by_dtype(frame, dtype, *keys):
    """The rows of one precision, sorted by ``keys``."""
    return frame[frame["dtype"] == dtype].sort_values(list(keys))


def test_float64_agrees_to_1e_8_and_float32_drifts_as_recomputed():
    at = open_page("backends")
    shown = metrics(at)
    assert shown["float64: largest |Δ loss|"] < 1e-8 and shown["float64: largest |Δ weight|"] < 1e-8
    assert 1e-12 < shown["float32: largest |Δ loss|"] < 1e-3 and shown["float32: largest |Δ weight|"] > 1e-12
    curves = chart(at, "Mini-batch loss at every step").frame_with("loss", "backend", "dtype")
    differences = chart(at, "|PyTorch loss − NumPy loss|").frame_with("abs_diff")
    gradients = chart(at, "Gradients at step 200").frame_with("param", "max_abs_diff")
    weights = chart(at, "Weights at the end of the run").frame_with("param", "max_abs_diff")
    memory = table(at).set_index(["backend", "measure"])
    for dtype in ("float64", "float32"):
        run = compare_backends(MOONS, DEFAULT.replace(dtype=dtype), 200)
        assert f"{run.loss_diffs['abs_diff'].max():.1e}" == next(
            m.value for m in at.metric if m.label == f"{dtype}: largest |Δ loss|"
        )
        late = run.loss_diffs[run.loss_diffs["step"] > 100]["abs_diff"].max()
        assert (late > 1e-12) if dtype == "float32" else (late < 1e-8)  # float32: still apart after 100 steps
        numpy = by_dtype(curves, dtype, "step")
        np.testing.assert_array_equal(
            numpy[numpy["backend"] == "NumPy"]["loss"], run.steps.query("backend == 'numpy'")["loss"]
        )
        np.testing.assert_array_equal(by_dtype(differences, dtype, "step")["abs_diff"], run.loss_diffs["abs_diff"])
        last = run.grad_diffs[run.grad_diffs["step"] == 200]  # the slider starts at the last step
        np.testing.assert_array_equal(
            by_dtype(gradients, dtype, "param")["max_abs_diff"], last.sort_values("param")["max_abs_diff"]
        )
        np.testing.assert_array_equal(
            by_dtype(weights, dtype, "param")["max_abs_diff"], run.weight_diffs.sort_values("param")["max_abs_diff"]
        )
        kept = run.memory.set_index(["backend", "measure"])["bytes"]
        assert memory.loc[("NumPy", "kept for backward"), f"{dtype} (kB)"] == kept["numpy", "kept for backward"] / 1e3
        assert (
            memory.loc[("PyTorch (CPU)", "kept for backward"), f"{dtype} (kB)"]
            == kept["torch", "kept for backward"] / 1e3
        )
    assert at.slider(key="w_cmp_step").value == 200
    for title in ("Mini-batch loss", "|PyTorch loss − NumPy loss|", "Gradients at step 200"):  # readable log axes
        shown = chart(at, title)
        y = next(e for c, e in encoding_fields(shown.spec) if c == "y" and "axis" in e)
        ticks = y["axis"]["values"]
        assert all(f"{t:.0e}"[0] in "125" and np.isclose(float(f"{t:.0e}"), t) for t in ticks), title  # 1-2-5
        assert y["scale"]["domain"] == [min(ticks), max(ticks)] and len(ticks) <= 7, title
    if not cuda_available():
        assert "No CUDA GPU on this machine" in caption_text(at)


def test_precision_steps_and_batch_norm_controls():
    at = open_page("backends", batch_norm="1")
    assert "γ, β and the running mean and variance are compared too" in caption_text(at)
    assert metrics(at)["float64: largest |Δ loss|"] < 1e-8
    weights = chart(at, "Weights at the end of the run").frame_with("param", "max_abs_diff")
    assert {"gamma1", "beta1", "running_mean1", "running_var1"} <= set(weights["param"])
    at.multiselect(key="w_cmp_dtypes").set_value(["float64"]).run()
    assert not at.exception and set(metrics(at)) == {"float64: largest |Δ loss|", "float64: largest |Δ weight|"}
    at.multiselect(key="w_cmp_dtypes").set_value([]).run()
    assert not at.exception and any("Pick at least one precision" in i.value for i in at.info)
    at.multiselect(key="w_cmp_dtypes").set_value(["float32"]).run()
    at.number_input(key="w_cmp_steps").set_value(30).run()
    assert not at.exception and at.slider(key="w_cmp_step").max == 30
    assert metrics(at)["float32: largest |Δ loss|"] > 1e-12
    at.slider(key="w_cmp_step").set_value(1).run()
    assert not at.exception
    run = compare_backends(MOONS, DEFAULT.replace(dtype="float32", batch_norm=True), 30)
    first = run.grad_diffs[run.grad_diffs["step"] == 1].sort_values("param")
    shown = chart(at, "Gradients at step 1").frame_with("param", "max_abs_diff").sort_values("param")
    np.testing.assert_array_equal(shown["max_abs_diff"], first["max_abs_diff"])  # the slider picks the step


def test_timing_button_adds_the_bars_beside_the_benchmark_figures():
    at = open_page("backends", dataset="blobs", depth="1")
    button = at.button(key="w_cmp_time")
    assert button.label.startswith("Time 3 epochs of each backend in float64 (about ")
    assert not [c for c in charts(at) if c.title == "This data set, measured now"]
    button.click().run()
    assert not at.exception
    (summary,) = at.session_state["cmp_timings"].values()
    assert list(summary["backend"]) == ["NumPy", "PyTorch (CPU)"] + (["PyTorch (GPU)"] if cuda_available() else [])
    assert (summary["median"] > 0).all() and summary["ratio"].iloc[0] == 1.0
    bars = chart(at, "This data set, measured now").frame_with("median", "label")
    np.testing.assert_array_equal(bars["median"], summary["median"])
    ratio = summary["ratio"].iloc[1]
    speed = f"{ratio:.2g}× faster" if ratio >= 1 else f"{1 / ratio:.2g}× slower"
    assert list(bars["label"])[:2] == [
        f"{summary['median'].iloc[0]:.3g} s",
        f"{summary['median'].iloc[1]:.3g} s ({speed})",
    ]
    benchmark = load_benchmark()
    if benchmark is None:
        assert any("No benchmark figures yet" in i.value for i in at.info)
    else:
        assert "From benchmarks/results/epoch_time.json" in caption_text(at)
        figures = chart(at, "The course network on CIFAR-shaped data").frame_with("group", "median")
        np.testing.assert_array_equal(figures["median"], benchmark[1]["median"])


def test_one_slow_epoch_does_not_squash_the_time_bars():
    """A busy machine's outlier epoch (14 s against medians of 0.7 s) is cut at the axis, not the scale of every bar."""
    summary = pd.DataFrame(
        {
            "group": ["float32"] * 2,
            "backend": ["NumPy", "PyTorch (CPU)"],
            "median": [0.70, 0.65],
            "min": [0.69, 0.64],
            "max": [0.77, 14.5],
            "ratio": [1.0, 0.70 / 0.65],
        }
    )
    spec = time_chart(summary, "title", "subtitle").to_dict()
    (domain,) = [
        layer["encoding"]["x"]["scale"]["domain"] for layer in spec["layer"] if "scale" in layer["encoding"]["x"]
    ]
    assert domain[1] <= 3.01 * 0.70  # the bars fill a third of the axis, not a 25th
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert data["max_shown"].tolist() == [0.77, WHISKER_CAP * 0.70] and data["cut"].tolist() == [False, True]
    assert data["label"].tolist() == ["0.7 s", "0.65 s (1.1× faster)"]
    slower = time_chart(summary.assign(ratio=[1.0, 0.27]), "title", "subtitle").to_dict()
    assert pd.DataFrame(next(iter(slower["datasets"].values())))["label"].iloc[1] == "0.65 s (3.7× slower)"


def test_one_step_and_a_diverged_run_show_what_there_is():
    at = open_page("backends")
    at.number_input(key="w_cmp_steps").set_value(1).run()
    assert not at.exception and "w_cmp_step" not in {s.key for s in at.slider}  # one step: nothing to slide over
    run = compare_backends(MOONS, DEFAULT.replace(dtype="float64"), 1)
    shown = chart(at, "Gradients at step 1").frame_with("param", "max_abs_diff")
    np.testing.assert_array_equal(
        by_dtype(shown, "float64", "param")["max_abs_diff"], run.grad_diffs.sort_values("param")["max_abs_diff"]
    )

    at = open_page("backends", depth="4", width="64", activation="relu", lr="10")
    assert not at.exception
    runs = {
        d: compare_backends(MOONS, DEFAULT.replace(hidden_dims=(64,) * 4, activation="relu", lr=10.0, dtype=d), 200)
        for d in ("float64", "float32")
    }
    ended = {d: int(run.steps["step"].max()) for d, run in runs.items()}
    assert all(run.diverged for run in runs.values()) and max(ended.values()) < 200
    compared = max(int(run.grad_diffs["step"].max()) for run in runs.values())
    assert at.slider(key="w_cmp_step").max == compared == at.slider(key="w_cmp_step").value  # only steps that exist
    assert len(chart(at, f"Gradients at step {compared}").frame_with("param", "max_abs_diff"))
    (subtitle,) = [
        part["title"]["subtitle"] for part in chart(at, "Weights at the end").spec["layer"] if "title" in part
    ]
    assert subtitle == "max |PyTorch − NumPy| at the end: " + ", ".join(
        f"{d} after {n} steps (the last diverged)" for d, n in ended.items()
    )
    assert any("stopped before the first measurement" in c for c in captions(at))  # no empty accuracy chart
    assert not [c for c in charts(at) if c.title == "Accuracy on the validation set"]

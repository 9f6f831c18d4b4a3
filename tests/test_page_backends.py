"""The NumPy-vs-PyTorch page, opened from the entrypoint; its numbers recomputed outside the app."""

import pytest

from core.analysis.backend_compare import compare_backends, cuda_available, load_benchmark
from core.data import load_dataset
from core.training.config import TrainConfig
from tests.helpers import open_page

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks: a second torch thread gains nothing, and on a busy CPU two wait on each other at every op."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def metrics(at):
    return {m.label: float(m.value) for m in at.metric}


def captions(at):
    return " ".join(c.value for c in at.caption)


def test_float64_agrees_to_1e_8_and_float32_drifts_as_recomputed():
    at = open_page("backends")
    shown = metrics(at)
    assert shown["float64: largest |Δ loss|"] < 1e-8 and shown["float64: largest |Δ weight|"] < 1e-8
    assert 1e-12 < shown["float32: largest |Δ loss|"] < 1e-3 and shown["float32: largest |Δ weight|"] > 1e-12
    # The default run (two moons, 2 × 8 tanh, SGD lr 0.3, batch 16, seed 42), 200 steps, without the app.
    data = load_dataset("moons", n_samples=400, noise=0.2, seed=42)
    config = TrainConfig(hidden_dims=(8, 8), activation="tanh", lr=0.3, batch_size=16, seed=42, epochs=1)
    for dtype in ("float64", "float32"):
        run = compare_backends(data, config.replace(dtype=dtype), 200)
        assert f"{run.loss_diffs['abs_diff'].max():.1e}" == next(
            m.value for m in at.metric if m.label == f"{dtype}: largest |Δ loss|"
        )
        late = run.loss_diffs[run.loss_diffs["step"] > 100]["abs_diff"].max()
        assert (late > 1e-12) if dtype == "float32" else (late < 1e-8)  # float32: still apart after 100 steps
    benchmark = load_benchmark() is not None  # its figures are drawn too, once benchmarks/epoch_time.py has run
    assert len(at.get("vega_lite_chart")) == 5 + benchmark  # loss, accuracy, |Δ loss|, gradients, weights
    assert at.slider(key="w_cmp_step").value == 200  # gradients at the last step
    if not cuda_available():
        assert "No CUDA GPU on this machine" in captions(at)


def test_precision_steps_and_batch_norm_controls():
    at = open_page("backends", batch_norm="1")
    assert "γ, β and the running mean and variance are compared too" in captions(at)
    assert metrics(at)["float64: largest |Δ loss|"] < 1e-8
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


def test_timing_button_adds_the_bars_beside_the_benchmark_figures():
    at = open_page("backends", dataset="blobs", depth="1")
    button = at.button(key="w_cmp_time")
    assert button.label.startswith("Time 3 epochs of each backend in float64 (about ")
    charts = len(at.get("vega_lite_chart"))
    button.click().run()
    assert not at.exception and len(at.get("vega_lite_chart")) == charts + 1
    (summary,) = at.session_state["cmp_timings"].values()
    assert list(summary["backend"]) == ["NumPy", "PyTorch (CPU)"] + (["PyTorch (GPU)"] if cuda_available() else [])
    assert (summary["median"] > 0).all() and summary["ratio"].iloc[0] == 1.0
    if load_benchmark() is None:
        assert any("No benchmark figures yet" in i.value for i in at.info)
    else:
        assert "From benchmarks/results/epoch_time.json" in captions(at)

"""NumPy vs PyTorch in lockstep: same weights, same mini-batches; float64 agrees to round-off, float32 drifts."""

import json
import sys
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.analysis.backend_compare import (  # noqa: E402
    MAX_SAMPLES,
    MAX_STEPS,
    CompareError,
    batch_indices,
    compare_backends,
    cuda_available,
    load_benchmark,
    time_epochs,
    timing_summary,
)
from core.data import load_dataset  # noqa: E402
from core.training.config import ConfigError, TrainConfig  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402

DATA = load_dataset("moons", n_samples=200, noise=0.2, seed=0)  # 120 training samples
CONFIG = TrainConfig(hidden_dims=(8, 8), activation="tanh", lr=0.3, batch_size=16, seed=3, epochs=1)


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
def test_float64_backends_agree_to_round_off(batch_norm):
    run = compare_backends(DATA, CONFIG.replace(dtype="float64", batch_norm=batch_norm), steps=40)
    assert run.diverged is None and run.steps_per_epoch == 8
    assert len(run.steps) == 2 * 40 and set(run.steps["backend"]) == {"numpy", "torch"}
    assert run.loss_diffs["abs_diff"].max() < 1e-12  # the bar is 1e-8
    assert run.grad_diffs["max_abs_diff"].max() < 1e-12
    assert run.weight_diffs["max_abs_diff"].max() < 1e-12
    names = {"W1", "W2", "W3", "b3"} | ({"gamma1", "beta1", "running_var2"} if batch_norm else {"b1", "b2"})
    assert names <= set(run.grad_diffs["param"]) | set(run.weight_diffs["param"])
    assert set(run.grad_diffs["step"]) == set(range(1, 41))
    assert run.evals["step"].max() == 40 and run.evals["accuracy"].between(0, 1).all()


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
def test_float32_differences_are_rounding_and_grow(batch_norm):
    run = compare_backends(DATA, CONFIG.replace(dtype="float32", batch_norm=batch_norm), steps=40, grad_steps=[1, 40])
    diffs = run.loss_diffs["abs_diff"]
    assert 1e-12 < diffs.max() < 1e-4
    assert diffs[run.loss_diffs["step"] > 20].max() > 1e-12  # still there after some steps
    assert 1e-12 < run.weight_diffs["max_abs_diff"].max() < 1e-3
    assert set(run.grad_diffs["step"]) == {1, 40}
    float64 = compare_backends(DATA, CONFIG.replace(dtype="float64", batch_norm=batch_norm), steps=40)
    assert run.weight_diffs["max_abs_diff"].max() > 1e3 * float64.weight_diffs["max_abs_diff"].max()


def test_numpy_side_takes_the_trainers_mini_batches():
    config = CONFIG.replace(dtype="float64", epochs=2)
    trainer = Trainer(DATA, config)
    for _ in range(12):  # across the epoch boundary: a new permutation
        trainer.step()
    run = compare_backends(DATA, config, steps=12)
    numpy = run.steps[run.steps["backend"] == "numpy"]["loss"].to_numpy()
    assert np.array_equal(numpy, trainer.step_history()["loss"].to_numpy())
    batches = batch_indices(120, 16, config.seed)
    assert [len(next(batches)) for _ in range(9)] == [16] * 7 + [8, 16]


def test_memory_of_a_step_counts_what_backward_keeps():
    B, D, H, C = 16, 2, 8, 2
    run = compare_backends(DATA, CONFIG.replace(dtype="float64"), steps=2)
    mem = run.memory.set_index(["backend", "measure"])["bytes"]
    # NumPy keeps the batch x, tanh's two outputs (also the next Linear's inputs) and the probabilities.
    assert mem["numpy", "kept for backward"] == B * (D + 2 * H + C) * 8
    # autograd keeps the same float64 tensors, plus the labels (int64) that cross-entropy saves.
    assert (
        mem["numpy", "kept for backward"]
        <= mem["torch", "kept for backward"]
        <= mem["numpy", "kept for backward"] + B * 8 + 64
    )
    assert mem["numpy", "peak during the step (tracemalloc)"] > mem["numpy", "kept for backward"]
    float32 = compare_backends(DATA, CONFIG.replace(dtype="float32"), steps=1).memory
    assert float32.loc[float32["measure"] == "kept for backward", "bytes"].iloc[0] == B * (D + 2 * H + C) * 4


def test_time_epochs_reports_every_repetition_and_the_ratio():
    calls = []
    times = time_epochs(DATA, CONFIG, reps=2, progress=lambda fraction, text: calls.append((fraction, text)))
    assert list(times.columns) == ["backend", "rep", "seconds"] and len(times) == 4
    assert (times["seconds"] > 0).all()
    assert len(calls) == 6 and calls[-1][0] == 1.0 and "PyTorch (CPU): epoch 3 of 3" in calls[-1][1]
    summary = timing_summary(times).set_index("backend")
    assert summary.loc["numpy", "ratio"] == 1.0
    assert summary.loc["torch", "ratio"] == pytest.approx(
        summary.loc["numpy", "median"] / summary.loc["torch", "median"]
    )


def test_a_diverging_run_stops_and_says_where():
    run = compare_backends(DATA, CONFIG.replace(lr=10.0, hidden_dims=(64,) * 4, activation="relu"), steps=200)
    assert run.diverged and "NaN or infinite at step" in run.diverged
    last = run.steps["step"].max()
    assert last < 200 and f"step {last}" in run.diverged


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: compare_backends(DATA, CONFIG, 0), CompareError, "steps must be a whole number from 1"),
        (lambda: compare_backends(DATA, CONFIG, MAX_STEPS + 1), CompareError, "steps must be"),
        (lambda: compare_backends(DATA, CONFIG, 2.5), CompareError, "steps must be"),
        (lambda: compare_backends(DATA, CONFIG, 5, grad_steps=[6]), CompareError, r"gradient steps must lie in 1 … 5"),
        (lambda: compare_backends(DATA, CONFIG, 5, backends=("torch",)), CompareError, "must start with numpy"),
        (lambda: compare_backends(DATA, CONFIG, 5, backends=("numpy", "jax")), CompareError, "must start with numpy"),
        (lambda: time_epochs(DATA, CONFIG, reps=0), CompareError, "repetitions must be"),
        (
            lambda: compare_backends(DATA, TrainConfig(batch_norm=True, batch_size=1), 5),
            ConfigError,
            "batch norm needs a batch size of at least 2",
        ),
    ],
)
def test_limits_are_checked_before_running(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_too_many_samples_is_refused_before_any_step():
    big = replace(DATA, X_train=np.zeros((MAX_SAMPLES + 1, 2)), y_train=np.zeros(MAX_SAMPLES + 1, np.int64))
    with pytest.raises(CompareError, match="at most 60,000 training samples, got 60,001"):
        compare_backends(big, CONFIG, 1)
    with pytest.raises(CompareError, match="at most 60,000"):
        time_epochs(big, CONFIG)


@pytest.mark.skipif(cuda_available(), reason="this machine has a GPU; the GPU test below runs instead")
def test_asking_for_the_gpu_without_one_says_so():
    with pytest.raises(CompareError, match="no CUDA GPU on this machine"):
        compare_backends(DATA, CONFIG, 5, backends=("numpy", "torch", "cuda"))


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU (PyTorch on the GPU as a third backend)")
def test_gpu_is_a_third_backend_that_agrees_in_float64():
    run = compare_backends(
        DATA, CONFIG.replace(dtype="float64", batch_norm=True), 20, backends=("numpy", "torch", "cuda")
    )
    assert set(run.loss_diffs["backend"]) == {"torch", "cuda"}
    assert run.loss_diffs["abs_diff"].max() < 1e-10 and run.weight_diffs["max_abs_diff"].max() < 1e-10
    assert {"kept for backward", "peak during the step (CUDA allocator)"} <= set(run.memory["measure"])


def test_benchmark_file_round_trip(tmp_path, monkeypatch):
    """The benchmark script writes what the page reads (run here on a tiny data set)."""
    from benchmarks import epoch_time

    small = epoch_time.cifar_shaped(n_train=256, n_val=32, D=12, C=3)
    monkeypatch.setattr(epoch_time, "cifar_shaped", lambda: small)
    out = tmp_path / "epoch_time.json"
    monkeypatch.setattr(sys, "argv", ["epoch_time.py", "--reps", "1", "--dtypes", "float32", "--out", str(out)])
    epoch_time.main()
    about, frame = load_benchmark(out)
    assert about["reps"] == 1 and "CPUs" in about["machine"]
    assert list(frame["setting"].unique()) == ["float32", "float32 + batch norm"]
    doc = json.loads(out.read_text())
    r = doc["results"][1]
    assert r["batch_norm"] and r["ratio"] == pytest.approx(r["numpy"]["median"] / r["torch"]["median"], rel=1e-12)
    shown = frame[frame["setting"] == "float32 + batch norm"].set_index("backend")["ratio"]
    assert shown["numpy"] == 1.0 and shown["torch"] == pytest.approx(r["ratio"], rel=1e-12)
    assert load_benchmark(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text('{"results": [{"dtype": "float32"}]}')
    with pytest.raises(CompareError, match="bad.json is not a benchmark result"):
        load_benchmark(tmp_path / "bad.json")


def test_the_committed_benchmark_figures_are_readable():
    figures = load_benchmark()
    if figures is None:
        pytest.skip("benchmarks/results/epoch_time.json has not been written yet")
    about, frame = figures
    assert {"float32", "float32 + batch norm", "float64", "float64 + batch norm"} == set(frame["setting"])
    assert (frame["min"] <= frame["median"]).all() and (frame["median"] <= frame["max"]).all()

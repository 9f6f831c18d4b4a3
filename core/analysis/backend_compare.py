"""NumPy vs PyTorch: the same network from the same initial weights on the same mini-batches, step by step.

``compare_backends`` trains a ``NumpyBackend`` (hand-derived backward) and a ``TorchBackend`` (autograd) in lockstep
from ``initial_weights`` on the mini-batch order of ``Trainer`` (a fresh permutation per epoch from
``default_rng(seed + 1)``), and, where CUDA is available and asked for, a ``TorchBackend`` on the GPU as a third.
Every backend is compared with NumPy: per-step losses, per-layer gradient differences, final weights.
``time_epochs`` times whole epochs of each, on demand.

Memory of one training step, measured differently on each side, and said so wherever it is shown:
    NumPy: the peak of ``tracemalloc`` during the step (NumPy reports every array allocation to it), and the bytes
        of the arrays its modules cache for backward (the layers' inputs, activations' outputs, batch norm's x̂).
    PyTorch: the bytes of the tensors autograd saves for backward, counted through
        ``torch.autograd.graph.saved_tensors_hooks`` (distinct tensors, parameters excluded), and on CUDA the peak of
        ``torch.cuda.max_memory_allocated``. Chosen over ``torch.profiler(profile_memory=True)``: the hooks see exactly
        what backward keeps (the counterpart of NumPy's caches, and what checkpointing cuts), cost nothing measurable
        and give the same bytes on every run, while the profiler's CPU events must be summed into a peak by hand,
        add seconds of overhead and depend on the caching allocator's state.
"""

import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.nn.gradcheck import norm_rel_error
from core.nn.losses import log_softmax
from core.training.backends import NumpyBackend, TorchBackend, initial_weights
from core.training.batches import epoch_order
from core.training.config import validate

MAX_STEPS = 2_000  # steps of one comparison
MAX_SAMPLES = 60_000  # training samples (MNIST's 60,000)
MAX_REPS = 10  # timed epochs per backend
BACKEND_LABELS = {"numpy": "NumPy", "torch": "PyTorch (CPU)", "cuda": "PyTorch (GPU)"}
BENCHMARK_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "epoch_time.json"


class CompareError(ValueError):
    """A comparison that cannot run as asked; the message is one line a user can act on."""


def cuda_available():
    import torch

    return torch.cuda.is_available()


def _check(data, config, backends):
    """Validate the run before anything is built; raises CompareError (or ConfigError) with one line."""
    validate(config, data.n_features, data.n_classes)
    if len(data.y_train) > MAX_SAMPLES:
        raise CompareError(f"at most {MAX_SAMPLES:,} training samples, got {len(data.y_train):,}")
    unknown = [b for b in backends if b not in BACKEND_LABELS]
    if unknown or not backends or backends[0] != "numpy":
        raise CompareError(f"backends must start with numpy and be among {', '.join(BACKEND_LABELS)}, got {backends}")
    if "cuda" in backends and not cuda_available():
        raise CompareError("no CUDA GPU on this machine: compare numpy and torch only")


def _make(name, data, config, weights):
    if name == "numpy":
        return NumpyBackend(data.n_features, data.n_classes, config, weights)
    return TorchBackend(data.n_features, data.n_classes, config, weights, device="cpu" if name == "torch" else "cuda")


def batch_indices(n, batch_size, seed):
    """The mini-batches of ``Trainer`` forever: index arrays (B,), a new permutation of n per epoch."""
    rng = np.random.default_rng(seed + 1)
    while True:
        order = epoch_order(rng, n)
        yield from (order[i : i + batch_size] for i in range(0, n, batch_size))


def _param_layer(name):
    return int("".join(c for c in name if c.isdigit()))


def _differences(reference, other):
    """Per parameter: max |reference − other| and ‖reference − other‖ / (‖reference‖ + ‖other‖)."""
    return [
        {
            "param": name,
            "layer": _param_layer(name),
            "max_abs_diff": float(np.max(np.abs(a - other[name]))),
            "rel_diff": norm_rel_error(a, other[name]),
        }
        for name, a in reference.items()
    ]


@dataclass
class Comparison:
    """What ``compare_backends`` returns; every frame is long form, one row per backend (and step, parameter)."""

    dtype: str
    steps: pd.DataFrame  # step, epoch, backend, loss, accuracy: the mini-batch's, before the step's update
    evals: pd.DataFrame  # step, backend, loss, accuracy: on the validation set (eval mode), every few steps
    loss_diffs: pd.DataFrame  # step, backend, abs_diff = |loss − NumPy's loss| (not numpy itself)
    grad_diffs: pd.DataFrame  # step, backend, param, layer, max_abs_diff, rel_diff: gradients of that step vs NumPy
    weight_diffs: pd.DataFrame  # backend, param, layer, max_abs_diff, rel_diff: the final weights vs NumPy
    memory: pd.DataFrame  # backend, measure, bytes (see the module docstring)
    step_seconds: dict  # backend → median seconds of a training step
    steps_per_epoch: int
    diverged: str | None  # the message when a loss became NaN or infinite (the run stopped there)

    def epoch_seconds(self):
        """Estimated seconds per epoch of each backend: steps per epoch × the median step."""
        return {b: s * self.steps_per_epoch for b, s in self.step_seconds.items()}


def compare_backends(data, config, steps, grad_steps=None, backends=("numpy", "torch"), n_evals=20):
    """Train ``backends`` in lockstep from the same initial weights on the same mini-batches for ``steps`` steps.

    Args:
        data: a ``core.data.Dataset`` (training set ≤ MAX_SAMPLES samples).
        config: a ``TrainConfig``: architecture, batch norm, optimizer, batch size, seed and dtype (float32/float64).
        steps: 1 … MAX_STEPS training steps.
        grad_steps: the steps whose gradients are compared (1-based); None compares every step.
        backends: "numpy" first, then "torch" and/or "cuda".
        n_evals: about how many times the validation loss and accuracy are measured.

    Returns a ``Comparison``; a non-finite loss stops the run (``diverged`` says where).
    """
    backends = tuple(backends)
    _check(data, config, backends)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise CompareError(f"steps must be a whole number from 1 to {MAX_STEPS:,}, got {steps!r}")
    grad_steps = set(range(1, steps + 1)) if grad_steps is None else {int(s) for s in grad_steps}
    if not grad_steps <= set(range(1, steps + 1)):
        raise CompareError(f"gradient steps must lie in 1 … {steps}, got {sorted(grad_steps)}")
    dtype = np.dtype(config.dtype)
    X, y = data.X_train.astype(dtype), data.y_train.astype(np.int64)  # (N, D), (N,)
    X_val, y_val = (data.X_val, data.y_val) if len(data.y_val) else (data.X_train, data.y_train)
    X_val = X_val.astype(dtype)
    weights = initial_weights(
        data.n_features, config.hidden_dims, data.n_classes, config.seed, config.dtype, config.batch_norm
    )
    models = {name: _make(name, data, config, weights) for name in backends}
    per_epoch = -(-len(y) // config.batch_size)
    eval_every = max(1, steps // n_evals)
    rows, evals, grads, memory, times, diverged = [], [], [], [], {b: [] for b in backends}, None
    batches = batch_indices(len(y), config.batch_size, config.seed)
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            idx = next(batches)
            xb, yb = X[idx], y[idx]  # (B, D), (B,)
            for name, model in models.items():
                t0 = time.perf_counter()
                loss, probs = _measured_step(name, model, xb, yb, memory) if step == 1 else model.train_step(xb, yb)
                times[name].append(time.perf_counter() - t0)
                rows.append(
                    {
                        "step": step,
                        "epoch": (step - 1) // per_epoch + 1,
                        "backend": name,
                        "loss": float(loss),
                        "accuracy": float((probs.argmax(axis=1) == yb).mean()),
                    }
                )
            if not all(np.isfinite(r["loss"]) for r in rows[-len(backends) :]):  # no update, no torch gradients
                diverged = f"the loss became NaN or infinite at step {step}: lower the learning rate"
                break
            if step in grad_steps:
                reference = models["numpy"].last_grads()
                for name in backends[1:]:
                    grads += [
                        {"step": step, "backend": name, **d} for d in _differences(reference, models[name].last_grads())
                    ]
            if step % eval_every == 0 or step == steps:
                evals += [{"step": step, "backend": name, **_evaluate(m, X_val, y_val)} for name, m in models.items()]
    steps_frame = pd.DataFrame(rows)
    wide = steps_frame.pivot(index="step", columns="backend", values="loss")
    loss_diffs = pd.concat(
        [
            pd.DataFrame({"step": wide.index, "backend": b, "abs_diff": (wide[b] - wide["numpy"]).abs()})
            for b in backends[1:]
        ],
        ignore_index=True,
    )
    final = {name: m.get_weights() for name, m in models.items()}
    with np.errstate(all="ignore"):  # weights that blew up compare as inf or NaN
        weight_diffs = [{"backend": b, **d} for b in backends[1:] for d in _differences(final["numpy"], final[b])]
    diff_columns = ["backend", "param", "layer", "max_abs_diff", "rel_diff"]
    return Comparison(
        config.dtype,
        steps_frame,
        pd.DataFrame(evals, columns=["step", "backend", "loss", "accuracy"]),
        loss_diffs,
        pd.DataFrame(grads, columns=["step", *diff_columns]),
        pd.DataFrame(weight_diffs, columns=diff_columns),
        pd.DataFrame(memory),
        {b: float(np.median(t)) for b, t in times.items()},
        per_epoch,
        diverged,
    )


def _evaluate(model, X, y):
    """Mean cross-entropy and accuracy of ``model`` on (X, y), eval mode."""
    logits = np.asarray(model.predict_logits(X), dtype=np.float64)  # (N, C)
    logp = log_softmax(logits)
    return {"loss": float(-logp[np.arange(len(y)), y].mean()), "accuracy": float((logits.argmax(axis=1) == y).mean())}


# ---- memory of one training step ----


def _measured_step(name, model, x, y, memory):
    """``model.train_step(x, y)`` with its memory measured; appends rows (backend, measure, bytes) to ``memory``."""
    if name == "numpy":
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = model.train_step(x, y)
        peak = tracemalloc.get_traced_memory()[1] - before
        if started:
            tracemalloc.stop()
        memory += [
            {"backend": name, "measure": "peak during the step (tracemalloc)", "bytes": peak},
            {"backend": name, "measure": "kept for backward", "bytes": _numpy_cache_bytes(model.mlp)},
        ]
        return out
    import torch

    params = {p.data_ptr() for p in model.model.parameters()}
    saved = {}

    def pack(t):
        if t.data_ptr() not in params:
            saved[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    cuda = name == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model.train_step(x, y)
    memory.append({"backend": name, "measure": "kept for backward", "bytes": sum(saved.values())})
    if cuda:
        peak = torch.cuda.max_memory_allocated() - before
        memory.append({"backend": name, "measure": "peak during the step (CUDA allocator)", "bytes": peak})
    return out


def _numpy_cache_bytes(mlp):
    """Bytes of the distinct arrays the MLP's modules cache for their backward (inputs, outputs, x̂)."""
    arrays = {}
    for module in [*mlp.layers, *mlp.norms, *mlp.nonlinearities, mlp.softmax]:
        for attr in ("x", "out", "x_hat"):
            a = getattr(module, attr, None)
            if isinstance(a, np.ndarray):
                arrays[(a.__array_interface__["data"][0], a.nbytes)] = a.nbytes
    return sum(arrays.values())


# ---- time per epoch ----


def time_epochs(data, config, backends=("numpy", "torch"), reps=3, progress=None):
    """Seconds of each of ``reps`` whole training epochs per backend, after one uncounted warm-up epoch.

    Every backend starts from the same initial weights and walks the same mini-batches; only the training steps
    are timed (no evaluation). ``progress(fraction, text)`` is called after each epoch.
    Returns a long frame: backend, rep (1-based), seconds.
    """
    backends = tuple(backends)
    _check(data, config, backends)
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or not 1 <= reps <= MAX_REPS:
        raise CompareError(f"repetitions must be a whole number from 1 to {MAX_REPS}, got {reps!r}")
    dtype = np.dtype(config.dtype)
    X, y = data.X_train.astype(dtype), data.y_train.astype(np.int64)
    weights = initial_weights(
        data.n_features, config.hidden_dims, data.n_classes, config.seed, config.dtype, config.batch_norm
    )
    per_epoch = -(-len(y) // config.batch_size)
    rows, done, total = [], 0, len(backends) * (reps + 1)
    for name in backends:
        model = _make(name, data, config, weights)
        batches = batch_indices(len(y), config.batch_size, config.seed)
        for rep in range(reps + 1):  # rep 0 warms caches and thread pools
            t0 = time.perf_counter()
            with np.errstate(all="ignore"):
                for _ in range(per_epoch):
                    idx = next(batches)
                    model.train_step(X[idx], y[idx])
            if rep:
                rows.append({"backend": name, "rep": rep, "seconds": time.perf_counter() - t0})
            done += 1
            if progress:
                progress(done / total, f"{BACKEND_LABELS[name]}: epoch {rep + 1} of {reps + 1}")
    return pd.DataFrame(rows, columns=["backend", "rep", "seconds"])


def timing_summary(times):
    """Median, min and max seconds per epoch of each backend, and NumPy's median ÷ each one's (the ratio)."""
    summary = times.groupby("backend", sort=False)["seconds"].agg(["median", "min", "max"]).reset_index()
    summary["ratio"] = float(summary.loc[summary["backend"] == "numpy", "median"].iloc[0]) / summary["median"]
    return summary


# ---- the figures of benchmarks/epoch_time.py ----


def load_benchmark(path=BENCHMARK_FILE):
    """(description, frame) from the JSON file ``benchmarks/epoch_time.py`` writes, or None if there is none.

    description: {"network", "machine" (one line), "measured", "reps"}; frame: setting (e.g. "float32 + batch
    norm"), backend, median, min, max (seconds per epoch), ratio (NumPy's median ÷ this backend's, as
    ``timing_summary``). Raises CompareError for a file that is not the benchmark's.
    """
    import json

    path = Path(path)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        rows = []
        for r in doc["results"]:
            setting = r["dtype"] + (" + batch norm" if r["batch_norm"] else "")
            rows += [
                {
                    "setting": setting,
                    "backend": b,
                    **{k: float(r[b][k]) for k in ("median", "min", "max")},
                    "ratio": float(r["numpy"]["median"]) / float(r[b]["median"]),
                }
                for b in ("numpy", "torch")
            ]
        m = doc["machine"]
        machine = f"{m['cpus']} CPUs ({m['processor']}), python {m['python']}, numpy {m['numpy']}, torch {m['torch']}"
        about = {"network": doc["network"], "machine": machine, "measured": doc["measured"], "reps": doc["reps"]}
    except (ValueError, KeyError, TypeError) as e:
        raise CompareError(f"{path.name} is not a benchmark result ({type(e).__name__}: {e})") from None
    return about, pd.DataFrame(rows)

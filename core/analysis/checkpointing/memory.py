"""Gradient checkpointing measured: peak memory and time of one training step against depth and k.

Every number here comes from running a training step (forward, softmax cross-entropy, backward) of a
real MLP with ``depth`` hidden layers of ``width`` ELU units on a random batch of ``batch`` samples
(float64, 10 classes, input size = width), never from a formula:

- NumPy (``core.nn.mlp.MLP``): the peak of ``tracemalloc`` during the step, less what was allocated
  before it. It counts every array the step allocates and holds at its worst moment: cached
  activations (each Linear's input, each activation's input and output, batch norm's x̂), the δ kept
  by the plain backward, the probabilities, temporaries (a matmul's result, a mask) and, briefly, a
  new gradient array before the old one of the same layer is freed. Not counted: the weights, the
  input batch and the gradients the previous step left (they are replaced, not added). tracemalloc
  traces the whole process: measurements take turns, but other work of the process (another
  session's page on a shared server) during a step would add to its peak.
- PyTorch (``core.nn.torch_mlp.TorchMLP``): the bytes of the tensors saved for backward, counted by
  ``torch.autograd.graph.saved_tensors_hooks`` (``SavedBytes``). Each storage counts once however often it
  is saved (an activation's output is also the next Linear's input); weights are left out.
  ``SavedBytes`` lives in ``core.analysis.checkpointing.saved_bytes``.

Time is the median of ``reps`` steps (after one warm-up step) by ``time.perf_counter``, without the
memory instrumentation; the settings of k of one net are timed in turns (``step_costs``).

A net of n hidden layers has L = n + 1 blocks (Linear [+ batch norm] + f; the last is the output
Linear); k counts blocks, and "sqrt" is k = ⌈√L⌉ (``core.nn.checkpoint.checkpoint_interval``). Sweeps over
depth and k are in ``core.analysis.checkpointing.sweeps``; what is kept and recomputed, step by step, in
``core.analysis.checkpointing.steps``.
"""

import contextlib
import threading
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from core.analysis.checkpointing.saved_bytes import SavedBytes
from core.nn.checkpoint import checkpoint_interval
from core.nn.mlp import MLP

MAX_DEPTH, MAX_WIDTH, MAX_BATCH = 256, 1024, 1024  # hidden layers, units per layer, samples per step
MAX_PLAIN_BYTES = 512 * 10**6  # activations the plain NumPy step may hold (estimated before building anything)
ARRAYS_PER_LAYER = 4  # (N, H) arrays the plain NumPy step keeps per block: input, z, f(z), δ (+1 with batch norm)
MAX_REPS = 50  # timed steps per measurement
N_CLASSES = 10
BACKENDS = ("numpy", "torch")
PLAIN = "plain backprop"
_ONE_AT_A_TIME = threading.Lock()  # measurements of concurrent sessions (one server process) wait for each other


class MeasurementError(ValueError):
    """A measurement that cannot run as asked; the message is one line a user can act on."""


def variant_name(k):
    """The legend name of a setting of ``checkpoint_every``: "plain backprop", "k = ⌈√(n+1)⌉", "k = 4"."""
    return PLAIN if k is None else "k = ⌈√(n+1)⌉" if k == "sqrt" else f"k = {k}"


def plain_activation_bytes(depth, width, batch, batch_norm=False):
    """An upper estimate of the bytes the plain NumPy step keeps: L blocks × arrays per block × N × H × 8."""
    return (depth + 1) * (ARRAYS_PER_LAYER + bool(batch_norm)) * batch * width * 8


def check_sizes(depth, width, batch, ks=(), batch_norm=False, reps=0):
    """Refuse, before anything is allocated, sizes beyond the limits or a bad k (``MeasurementError``)."""
    for name, value, lo, hi in (
        ("depth", depth, 1, MAX_DEPTH),
        ("width", width, 1, MAX_WIDTH),
        ("batch", batch, 2, MAX_BATCH),
        ("reps", reps, 0, MAX_REPS),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise MeasurementError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    estimate = plain_activation_bytes(depth, width, batch, batch_norm)
    if estimate > MAX_PLAIN_BYTES:
        raise MeasurementError(
            f"{depth} layers × {width} units × {batch} samples would hold about {estimate / 1e6:,.0f} MB of "
            f"activations without checkpointing (limit {MAX_PLAIN_BYTES / 1e6:,.0f} MB): make the net or batch smaller"
        )
    for k in ks:
        if k is not None:
            try:
                checkpoint_interval(k, depth + 1)
            except ValueError as e:
                raise MeasurementError(str(e)) from None


def check_backends(backends):
    """Refuse (``MeasurementError``) an empty list of backends or one outside ``BACKENDS``."""
    if not backends or any(b not in BACKENDS for b in backends):
        raise MeasurementError(f"backends must be among {', '.join(BACKENDS)}, got {list(backends)!r}")


@dataclass(frozen=True)
class StepCost:
    """One measured training step: peak memory (bytes, see the module docstring) and median seconds."""

    backend: str
    depth: int
    k: int | None  # the segment length used (None: plain backprop)
    peak_bytes: int
    seconds: float
    loss: float


def measure_step(depth, width=256, batch=128, k=None, backend="numpy", reps=3, seed=0, batch_norm=False):
    """Peak memory and time of one training step (forward + backward) with ``checkpoint_every=k``."""
    check_sizes(depth, width, batch, (k,), batch_norm, reps)
    return step_costs(build_net(backend, depth, width, batch, seed, batch_norm), [k], reps)[0]


def build_net(backend, depth, width, batch, seed, batch_norm):
    """(backend, model, x (N, width), y (N,)): seeded weights, the same for NumPy and PyTorch."""
    check_backends([backend])
    rng = np.random.default_rng(seed)
    mlp = MLP(width, [width] * depth, N_CLASSES, "elu", rng=rng, batch_norm=batch_norm)
    x, y = rng.standard_normal((batch, width)), rng.integers(0, N_CLASSES, batch)
    if backend == "numpy":
        return backend, mlp, x, y
    import torch

    from core.nn.torch_mlp import TorchMLP

    model = TorchMLP(width, [width] * depth, N_CLASSES, "elu", device="cpu", batch_norm=batch_norm)
    return backend, model.load_numpy_weights(mlp.get_weights()), torch.as_tensor(x), torch.as_tensor(y)


def step_costs(net, ks, reps, tick=None):
    """A ``StepCost`` for every k of ``ks`` on one net: memory one k at a time, then time in rounds.

    Each round times one step of every k in turn (plain, k₁, k₂, plain, …; the first round warms up and
    is not counted), so a slowdown of a busy machine hits every setting alike and their ratios hold.
    ``tick()`` is called after each memory measurement and each counted round.
    """
    with _ONE_AT_A_TIME:  # one tracemalloc per process, started and stopped here: measurements take turns
        return _measured_costs(net, ks, reps, tick or (lambda: None))


def _measured_costs(net, ks, reps, tick):
    backend, model, x, y = net
    L = len(model.layers) if backend == "numpy" else len(model.blocks)
    peaks = (_numpy_peaks if backend == "numpy" else _torch_peaks)(model, x, y, ks, tick)
    times = [[] for _ in ks]
    for rounds in range(reps + 1 if reps > 0 else 0):  # reps = 0: memory only
        for k, t in zip(ks, times):
            t0 = time.perf_counter()
            model.loss_and_backward(x, y, k) if backend == "numpy" else _torch_step(model, x, y, k)
            t.append(time.perf_counter() - t0)
        if rounds:
            tick()
    if backend == "numpy":
        model.clear_cache()
    return [
        StepCost(
            backend,
            L - 1,
            None if k is None else checkpoint_interval(k, L),
            int(peak),
            float(np.median(t[1:])) if reps > 0 else float("nan"),
            float(loss),
        )
        for k, (peak, loss), t in zip(ks, peaks, times)
    ]


def _numpy_peaks(mlp, x, y, ks, tick):
    """[(tracemalloc peak of one step less what existed before it, loss) for each k].

    Warm-up steps come first, unmeasured: a plain one (it allocates the gradients, which the measured steps
    replace) and, when a k is checkpointed, a checkpointed one, so that what the first use of that code path
    allocates for good (the MLP imports its checkpointed backward lazily) is not counted as a step's memory.
    """
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        mlp.loss_and_backward(x, y)  # allocates the gradients under tracing: the steps below replace them
        for k in [k for k in ks if k is not None][:1]:
            mlp.loss_and_backward(x, y, k)  # the checkpointed path's first use, outside the measurements
        peaks = []
        for k in ks:
            mlp.clear_cache()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            loss, _ = mlp.loss_and_backward(x, y, k)
            peaks.append((tracemalloc.get_traced_memory()[1] - before, loss))
            tick()
    finally:
        mlp.clear_cache()
        if not tracing:
            tracemalloc.stop()
    return peaks


def _torch_step(model, x, y, k):
    import torch.nn.functional as F

    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x, checkpoint_every=k), y)
    loss.backward()
    return loss


def _torch_peaks(model, x, y, ks, tick):
    """[(peak bytes saved for backward during one step, loss) for each k], by ``SavedBytes``."""
    peaks = []
    for k in ks:
        meter = SavedBytes(model)
        frozen = model._recompute_context  # TorchMLP's context for recomputations (running statistics frozen)
        model._recompute_context = lambda: (contextlib.nullcontext(), meter.recomputing(frozen()[1]))
        try:
            with meter:
                loss = _torch_step(model, x, y, k)
        finally:
            del model._recompute_context  # the class's method again
        peaks.append((meter.peak, loss.item()))
        tick()
    return peaks

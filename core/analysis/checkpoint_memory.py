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

Time is the median of ``reps`` steps (after one warm-up step) by ``time.perf_counter``, without the
memory instrumentation; the settings of k of one net are timed in turns (``_costs``).

A net of n hidden layers has L = n + 1 blocks (Linear [+ batch norm] + f; the last is the output
Linear); k counts blocks, and "sqrt" is k = ⌈√L⌉ (``core.nn.mlp.checkpoint_interval``). Results are
tidy (long-form) DataFrames.
"""

import contextlib
import math
import threading
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.nn.checkpoint import segments
from core.nn.mlp import MLP, checkpoint_interval

MAX_DEPTH, MAX_WIDTH, MAX_BATCH = 256, 1024, 1024  # hidden layers, units per layer, samples per step
MAX_PLAIN_BYTES = 512 * 10**6  # activations the plain NumPy step may hold (estimated before building anything)
ARRAYS_PER_LAYER = 4  # (N, H) arrays the plain NumPy step keeps per block: input, z, f(z), δ (+1 with batch norm)
MAX_REPS = 50  # timed steps per measurement
DEPTHS = (4, 8, 16, 32, 64, 128)  # the default depth sweep
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
    for name, value, lo, hi in (("depth", depth, 1, MAX_DEPTH), ("width", width, 1, MAX_WIDTH),
                                ("batch", batch, 2, MAX_BATCH), ("reps", reps, 0, MAX_REPS)):  # fmt: skip
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


def _check_backends(backends):
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
    return _costs(_build(backend, depth, width, batch, seed, batch_norm), [k], reps)[0]


def _build(backend, depth, width, batch, seed, batch_norm):
    """(backend, model, x (N, width), y (N,)): seeded weights, the same for NumPy and PyTorch."""
    _check_backends([backend])
    rng = np.random.default_rng(seed)
    mlp = MLP(width, [width] * depth, N_CLASSES, "elu", rng=rng, batch_norm=batch_norm)
    x, y = rng.standard_normal((batch, width)), rng.integers(0, N_CLASSES, batch)
    if backend == "numpy":
        return backend, mlp, x, y
    import torch

    from core.nn.torch_mlp import TorchMLP

    model = TorchMLP(width, [width] * depth, N_CLASSES, "elu", device="cpu", batch_norm=batch_norm)
    return backend, model.load_numpy_weights(mlp.get_weights()), torch.as_tensor(x), torch.as_tensor(y)


def _costs(net, ks, reps, tick=None):
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
    return [StepCost(backend, L - 1, None if k is None else checkpoint_interval(k, L), int(peak),
                     float(np.median(t[1:])) if reps > 0 else float("nan"), float(loss))
            for k, (peak, loss), t in zip(ks, peaks, times)]  # fmt: skip


def _numpy_peaks(mlp, x, y, ks, tick):
    """[(tracemalloc peak of one step less what existed before it, loss) for each k]."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        mlp.loss_and_backward(x, y)  # allocates the gradients under tracing: the steps below replace them
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


class SavedBytes:
    """Running total and peak of the bytes saved for backward, as a ``with`` block around a training step.

    Inside the block every tensor autograd saves passes the pack hook: its storage is counted once
    (a reference count per storage address, so an output saved again as the next layer's input is not
    counted twice; parameters' storages not at all) and handed back wrapped; when autograd frees the
    wrapper (after the backward has used it) the count drops. ``total`` is the bytes alive now,
    ``peak`` the most at any moment.

    With checkpointing, autograd saves only each segment's input in the forward (the tensors inside a
    segment go to ``torch.utils.checkpoint``'s own hooks, which take precedence). In the backward each
    segment is recomputed under the checkpoint's recomputation hooks; ``recomputing`` wraps that
    recomputation (TorchMLP's recompute context) and counts the storages it saves on top of what is
    alive, then delegates to the checkpoint's hooks. Those tensors live until the segment's backward
    has used them, and the backward saves nothing new, so the peak of that segment is reached when its
    recomputation ends: ``peak ≥ total + recomputed``. The next recomputation starts when the previous
    segment is done (autograd runs the later segment first) and resets the count.
    """

    def __init__(self, model):
        self.skip = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.alive = {}  # storage address → [references, bytes]
        self.total = self.peak = 0
        self.recomputed = {}  # storage address → bytes, of the segment recomputed last

    def __enter__(self):
        import torch

        self._hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda saved: saved.tensor)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)

    def pack(self, t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key in self.skip:
            return _Saved(t, None, key)
        entry = self.alive.setdefault(key, [0, storage.nbytes()])
        if entry[0] == 0:
            self.total += entry[1]
            self.peak = max(self.peak, self.total)
        entry[0] += 1
        return _Saved(t, self, key)

    def release(self, key):
        entry = self.alive[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.total -= entry[1]
            del self.alive[key]

    @contextlib.contextmanager
    def recomputing(self, inner):
        """Count what a segment's recomputation saves (inside ``inner``, TorchMLP's recompute context)."""
        import torch

        # The hooks on top now are torch.utils.checkpoint's recomputation hooks: count, then hand on to them.
        pack, unpack = torch._C._autograd._top_saved_tensors_default_hooks(False)
        self.recomputed = {}

        def count(t):
            key = t.untyped_storage().data_ptr()
            if key not in self.skip and key not in self.alive:
                self.recomputed[key] = t.untyped_storage().nbytes()
            return pack(t)

        try:
            with inner, torch.autograd.graph.saved_tensors_hooks(count, unpack):
                yield
        finally:  # also when the checkpoint stops the recomputation early (all it needs is saved)
            self.peak = max(self.peak, self.total + sum(self.recomputed.values()))


class _Saved:
    """A saved tensor as autograd holds it while the meter runs; freeing it releases its bytes."""

    __slots__ = ("tensor", "meter", "key")

    def __init__(self, tensor, meter, key):
        self.tensor, self.meter, self.key = tensor, meter, key

    def __del__(self):
        if self.meter is not None:
            self.meter.release(self.key)


# ---- sweeps ----


def _rows(costs, width, batch, settings):
    rows = []
    for cost, k in zip(costs, settings):
        L = cost.depth + 1
        rows.append({
            "backend": cost.backend, "variant": variant_name(k), "depth": cost.depth, "layers": L, "width": width,
            "batch": batch, "k": cost.k, "checkpoints": None if cost.k is None else math.ceil(L / cost.k),
            "peak_bytes": cost.peak_bytes, "peak_mb": cost.peak_bytes / 1e6, "seconds": cost.seconds,
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    return frame.astype({"k": "Int64", "checkpoints": "Int64"})


def _sweep(groups, width, batch, reps, seed, batch_norm, progress):
    """Measure every (backend, depth, ks) of ``groups``, one net alive at a time; progress(done, total)."""
    total, done, costs, settings = sum(len(ks) + reps for *_, ks in groups), [0], [], []

    def tick():
        done[0] += 1
        if progress:
            progress(done[0], total)

    for backend, depth, ks in groups:
        costs += _costs(_build(backend, depth, width, batch, seed, batch_norm), ks, reps, tick)
        settings += ks
    return _rows(costs, width, batch, settings)


def depth_sweep(depths=DEPTHS, width=256, batch=128, ks=(None, "sqrt"), backends=("numpy",), reps=3, seed=0,
                batch_norm=False, progress=None):  # fmt: skip
    """Peak memory and time per step for every depth × setting of k × backend.

    Args:
        depths: hidden layers of each net; width, batch: units per layer and samples per step.
        ks: settings of ``checkpoint_every`` (None: plain backprop, an int, or "sqrt").
        backends: "numpy" and / or "torch".
        reps: timed steps per setting (the median is reported; 0: memory only, seconds NaN).
        progress: called as progress(done, total) after each memory measurement and each round of timings.

    Returns a long DataFrame, one row per measurement: backend, variant (``variant_name``), depth,
    layers (L = depth + 1), width, batch, k (the segment length used; <NA> for plain backprop),
    checkpoints (⌈L/k⌉), peak_bytes, peak_mb (10⁶ bytes), seconds (median per step).
    """
    if not len(depths) or not len(ks):
        raise MeasurementError("a sweep needs at least one depth and one setting of k")
    for depth in depths:
        check_sizes(depth, width, batch, ks, batch_norm, reps)
    _check_backends(backends)
    depths, ks = sorted(set(depths)), list(dict.fromkeys(ks))
    groups = [(b, d, ks) for b in backends for d in depths]
    return _sweep(groups, width, batch, reps, seed, batch_norm, progress)


def k_grid(layers, points=12):
    """About ``points`` segment lengths from 1 to L, spaced evenly on a log scale, with ⌈√L⌉ among them."""
    grid = {max(1, round(layers ** (i / (points - 1)))) for i in range(points)}
    return sorted(grid | {checkpoint_interval("sqrt", layers)})


def k_sweep(depth, width=256, batch=128, ks=None, backend="numpy", reps=1, seed=0, batch_norm=False, progress=None):
    """Peak memory and time per step against k for one depth: the U-shaped curve, with plain backprop.

    The peak holds ⌈L/k⌉ checkpoints plus the k blocks of the segment being recomputed, smallest
    near k = √L. ``ks`` defaults to ``k_grid(L)``. Returns ``depth_sweep``'s columns; the first row is
    plain backprop (k <NA>), the others are sorted by k.
    """
    check_sizes(depth, width, batch, ks or (), batch_norm, reps)
    _check_backends([backend])
    ks = k_grid(depth + 1) if ks is None else sorted({checkpoint_interval(k, depth + 1) for k in ks})
    return _sweep([(backend, depth, [None, *ks])], width, batch, reps, seed, batch_norm, progress)


def best_k(sweep):
    """The k of least measured peak memory in a ``k_sweep`` frame (the smallest such k on a tie)."""
    rows = sweep[sweep["k"].notna()].sort_values(["peak_bytes", "k"])
    return int(rows["k"].iloc[0])


def fit_slopes(sweep, quantities=("peak_bytes", "seconds")):
    """Least-squares fits value ≈ c · depthˢˡᵒᵖᵉ on log-log axes, per backend, variant and quantity.

    Returns a long DataFrame: backend, variant, quantity, slope, prefactor c, points (depths used;
    at least two distinct depths are needed, else slope is NaN). Slope 1: memory grows like n
    (plain backprop); ½: like √n (checkpoints every √n layers).
    """
    rows = []
    for (backend, variant), group in sweep.groupby(["backend", "variant"], sort=False):
        logn = np.log(group["depth"].to_numpy(dtype=np.float64))
        for quantity in quantities:
            values = group[quantity].to_numpy(dtype=np.float64)
            ok = values > 0
            slope = prefactor = np.nan
            if len(np.unique(logn[ok])) >= 2:
                slope, intercept = np.polyfit(logn[ok], np.log(values[ok]), 1)
                prefactor = math.exp(intercept)
            rows.append({"backend": backend, "variant": variant, "quantity": quantity, "slope": float(slope),
                         "prefactor": float(prefactor), "points": int(ok.sum())})  # fmt: skip
    return pd.DataFrame(rows)


def reference_slopes(sweep, column="peak_mb"):
    """Lines ∝ n and ∝ √n over the sweep's depths, for a log-log chart.

    ∝ n starts at plain backprop's value at the smallest depth, ∝ √n at the √n-checkpointed one's
    (the first backend in the frame). Returns: reference, depth, value.
    """
    first = sweep[sweep["backend"] == sweep["backend"].iloc[0]]
    depths = np.array(sorted(first["depth"].unique()), dtype=np.float64)
    rows = []
    for name, variant, power in (("∝ n", PLAIN, 1.0), ("∝ √n", variant_name("sqrt"), 0.5)):
        start = first[(first["variant"] == variant) & (first["depth"] == depths[0])][column]
        if len(start):
            rows += [{"reference": name, "depth": int(d), "value": float(start.iloc[0]) * (d / depths[0]) ** power}
                     for d in depths]  # fmt: skip
    return pd.DataFrame(rows, columns=["reference", "depth", "value"])


def estimate_seconds(depths, width, batch, ks, backends, reps):
    """A rough duration of ``depth_sweep(…)``, scaled from timed steps of an 8-layer net per backend."""
    # per net: one traced warm-up, then per k one traced step, a timing warm-up and reps timed steps
    steps = 1 + (1 + (reps + 1 if reps > 0 else 0)) * sum(1 if k is None else 4 / 3 for k in ks)
    blocks = sum(d + 1 for d in depths)
    unit = sum(measure_step(8, width, batch, "sqrt", b, reps=3).seconds / 9 for b in backends)  # a block, one step
    return unit * blocks * steps


# ---- which activations are kept, and a backward step by step ----


def checkpoint_layout(depth, k):
    """Which layer inputs are kept as checkpoints and which are recomputed, for ``depth`` hidden layers.

    Returns one row per block: layer (1 … L), input (x, a¹, …: what enters it), segment (1 …),
    role ("checkpoint: kept" or "recomputed in backward").
    """
    L = depth + 1
    rows = []
    for s, (start, end) in enumerate(segments(L, checkpoint_interval(k, L)), start=1):
        for l in range(start, end):
            role = "checkpoint: kept" if l == start else "recomputed in backward"
            rows.append({"layer": l + 1, "input": _input_name(l), "segment": s, "role": role})
    return pd.DataFrame(rows)


def _input_name(l):
    return "x" if l == 0 else f"a{str(l).translate(str.maketrans('0123456789', '⁰¹²³⁴⁵⁶⁷⁸⁹'))}"


def backward_steps(depth, k, width=3, batch=4, seed=0):
    """A checkpointed backward of a small net, watched step by step as it runs.

    The real ``MLP.loss_and_backward(checkpoint_every=k)`` runs with its per-block forward and backward
    observed: before each block's backward, which layers hold cached activations (their modules'
    caches are set) is read off the modules; a layer's input is a checkpoint from the forward until its
    segment's recomputation starts. Step 0 is the state after the forward.

    Returns one row per step and layer: step, action, layer (1 … L), state ("checkpoint", "cached"
    or "not in memory"), in_memory (layers holding something at that step).
    """
    rng = np.random.default_rng(seed)
    mlp = MLP(width, [width] * depth, 2, "elu", rng=rng)
    x, y = rng.standard_normal((batch, width)), rng.integers(0, 2, batch)
    L = mlp.n_layers
    forward, backward = mlp.block_forward, mlp.block_backward
    events = []  # ("recompute", l) and ("backward", l, layers with caches)

    def watched_forward(l, a, update_stats=True):
        if not update_stats:  # only the recomputation leaves the running statistics alone
            events.append(("recompute", l))
        return forward(l, a, update_stats)

    def watched_backward(l, dout, need_dx=True):
        events.append(("backward", l, {j for j in range(L) if mlp.layers[j].x is not None}))
        return backward(l, dout, need_dx)

    mlp.block_forward, mlp.block_backward = watched_forward, watched_backward
    mlp.loss_and_backward(x, y, checkpoint_every=k)
    held = {e[1] for i, e in enumerate(events) if e[0] == "recompute" and (i == 0 or events[i - 1][0] != "recompute")}
    steps, note = [("after the forward: only the checkpoints", set(), set(held))], ""
    for i, event in enumerate(events):
        if event[0] == "recompute" and event[1] in held:  # a segment's recomputation starts from its checkpoint
            end = next(e[1] for e in events[i:] if e[0] == "backward") + 1
            held.discard(event[1])
            note = f"recompute layers {event[1] + 1}–{end} from {_input_name(event[1])}, then "
        elif event[0] == "backward":
            steps.append((f"{note}backprop layer {event[1] + 1}", event[2], set(held)))
            note = ""
    rows = []
    for step, (action, cached, checkpoints) in enumerate(steps):
        for j in range(L):
            state = "cached" if j in cached else "checkpoint" if j in checkpoints else "not in memory"
            rows.append({"step": step, "action": action, "layer": j + 1, "state": state,
                         "in_memory": len(cached | checkpoints)})  # fmt: skip
    return pd.DataFrame(rows)

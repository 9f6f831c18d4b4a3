"""Sweeps of measured training steps: peak memory and time against depth and against the segment length k.

Every row is a measurement of ``core.analysis.checkpointing.memory`` (tracemalloc for NumPy, saved-tensor bytes
for PyTorch); the fits and reference lines are drawn through those measurements. Results are tidy (long-form)
DataFrames.
"""

import math

import numpy as np
import pandas as pd

from core.analysis.checkpointing.memory import (
    PLAIN,
    MeasurementError,
    build_net,
    check_backends,
    check_sizes,
    measure_step,
    step_costs,
    variant_name,
)
from core.nn.checkpoint import checkpoint_interval

DEPTHS = (4, 8, 16, 32, 64, 128)  # the default depth sweep


def _rows(costs, width, batch, settings):
    rows = []
    for cost, k in zip(costs, settings):
        L = cost.depth + 1
        rows.append(
            {
                "backend": cost.backend,
                "variant": variant_name(k),
                "depth": cost.depth,
                "layers": L,
                "width": width,
                "batch": batch,
                "k": cost.k,
                "checkpoints": None if cost.k is None else math.ceil(L / cost.k),
                "peak_bytes": cost.peak_bytes,
                "peak_mb": cost.peak_bytes / 1e6,
                "seconds": cost.seconds,
            }
        )
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
        costs += step_costs(build_net(backend, depth, width, batch, seed, batch_norm), ks, reps, tick)
        settings += ks
    return _rows(costs, width, batch, settings)


def depth_sweep(
    depths=DEPTHS,
    width=256,
    batch=128,
    ks=(None, "sqrt"),
    backends=("numpy",),
    reps=3,
    seed=0,
    batch_norm=False,
    progress=None,
):
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
    check_backends(backends)
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
    check_backends([backend])
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
            rows.append(
                {
                    "backend": backend,
                    "variant": variant,
                    "quantity": quantity,
                    "slope": float(slope),
                    "prefactor": float(prefactor),
                    "points": int(ok.sum()),
                }
            )
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
            rows += [
                {"reference": name, "depth": int(d), "value": float(start.iloc[0]) * (d / depths[0]) ** power}
                for d in depths
            ]
    return pd.DataFrame(rows, columns=["reference", "depth", "value"])


def estimate_seconds(depths, width, batch, ks, backends, reps):
    """A rough duration of ``depth_sweep(…)``, scaled from timed steps of an 8-layer net per backend."""
    # per net: traced warm-ups (plain, and checkpointed if a k is), then per k one traced step, a timing warm-up
    # and reps timed steps; a checkpointed step costs about 4/3 of a plain one (one more forward)
    warm_up = 1 + (4 / 3 if any(k is not None for k in ks) else 0)
    steps = warm_up + (1 + (reps + 1 if reps > 0 else 0)) * sum(1 if k is None else 4 / 3 for k in ks)
    blocks = sum(d + 1 for d in depths)
    unit = sum(measure_step(8, width, batch, "sqrt", b, reps=3).seconds / 9 for b in backends)  # a block, one step
    return unit * blocks * steps

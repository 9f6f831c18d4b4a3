"""Course question 12: gradient checkpointing's memory against depth, and what it costs in time.

See ``core.analysis.course.questions`` for what an ``Answer`` holds.
"""

import math

from core.analysis.checkpointing.memory import variant_name
from core.analysis.checkpointing.sweeps import depth_sweep, fit_slopes
from core.analysis.course.questions import Answer, CourseError, Link
from core.threads import one_thread


def checkpoint_savings(depths=(8, 16, 32, 64), width=32, batch=16, reps=2, progress=None):
    """Q12: peak memory and time of one training step against depth, plain and with a checkpoint every ⌈√L⌉ layers.

    ``core.analysis.checkpointing.sweeps.depth_sweep`` (NumPy, measured with tracemalloc) and ``fit_slopes``
    (memory ≈ c · nˢ on log-log axes). Returns an ``Answer`` whose frame is the sweep.
    """
    if len(depths) < 2:
        raise CourseError("the slopes need at least two depths")
    with one_thread():
        sweep = depth_sweep(depths, width, batch, (None, "sqrt"), ("numpy",), reps, progress=progress)
    fits = fit_slopes(sweep).set_index(["variant", "quantity"])["slope"]
    plain, sqrt = variant_name(None), variant_name("sqrt")
    deepest = sweep[sweep["depth"] == max(depths)].set_index("variant")
    figures = {
        "slope_plain": float(fits[plain, "peak_bytes"]),
        "slope_sqrt": float(fits[sqrt, "peak_bytes"]),
        "time_slope_plain": float(fits[plain, "seconds"]),
        "time_slope_sqrt": float(fits[sqrt, "seconds"]),
        "depth": int(max(depths)),
        "k": int(deepest.loc[sqrt, "k"]),
        "mb_plain": float(deepest.loc[plain, "peak_mb"]),
        "mb_sqrt": float(deepest.loc[sqrt, "peak_mb"]),
        "time_ratio": float(deepest.loc[sqrt, "seconds"] / deepest.loc[plain, "seconds"]),
    }
    f = figures
    if not math.isfinite(f["time_ratio"]):
        cost = "(time not measured: reps = 0)"
    elif f["time_ratio"] >= 1.05:
        cost = (
            f"for **{f['time_ratio']:.2f}× the time** per step: the backward recomputes every segment once, about "
            "one more forward pass"
        )
    else:
        cost = (
            f"and the time per step measured **{f['time_ratio']:.2f}×** plain backprop's: at this size the "
            "recomputed forward is lost in the noise of the machine (the Checkpointing view times larger nets)"
        )
    answer = (
        f"Measured on NumPy MLPs of {min(depths)} to {f['depth']} hidden layers × {width} units (batch {batch}): the "
        f"peak memory of one training step grows like **n^{f['slope_plain']:.2f}** with plain backprop, which keeps "
        f"every layer's activations for the backward, and like **n^{f['slope_sqrt']:.2f}** when only every k-th "
        f"layer's input is kept (k = ⌈√(n+1)⌉) and each segment is recomputed in the backward. At {f['depth']} layers "
        f"(k = {f['k']}): {f['mb_plain']:.3g} MB plain, {f['mb_sqrt']:.3g} MB checkpointed "
        f"({f['mb_plain'] / f['mb_sqrt']:.1f}× less), {cost}. O(n) memory becomes O(√n): ⌈n/k⌉ checkpoints plus one "
        "k-layer segment at a time, smallest when k ≈ √n."
    )
    method = (
        f"`depth_sweep`: the tracemalloc peak of one real training step per depth and setting, and the median "
        f"time of {reps} steps; slopes fitted on log-log axes by `fit_slopes` (time: "
        f"n^{f['time_slope_plain']:.2f} plain, n^{f['time_slope_sqrt']:.2f} checkpointed). Timings on a busy "
        "machine vary from run to run; the memory does not."
    )
    links = (Link("checkpointing", "Measure it at other sizes, and watch the backward step by step", {}),)
    return Answer(12, answer, method, figures, sweep, links)

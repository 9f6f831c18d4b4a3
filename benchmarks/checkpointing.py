"""Gradient checkpointing from the command line: peak memory and time per step against depth, both backends.

The same measurement as the Checkpointing page (``core.analysis.checkpointing.sweeps.depth_sweep``):
MLPs of 4 … 128 hidden ELU layers of width 256, batch 128, float64, one training step each, plain
backprop against checkpoints every ⌈√L⌉ layers (L = hidden layers + 1). Prints the table, the fitted
log-log slopes (peak memory ~ nˢˡᵒᵖᵉ), the time per step relative to plain backprop, and the peak
memory of both at depth 64. NumPy's figure is the ``tracemalloc`` peak of the step, PyTorch's the peak
of the bytes saved for backward.

BLAS and PyTorch run on ``--threads`` threads (default 1): on a shared or busy machine, threads that
wait for a core distort the timings far more than they speed them up.

    python benchmarks/checkpointing.py
    python benchmarks/checkpointing.py --depths 4 8 16 32 64 128 256 --width 256 --batch 128 --reps 5
"""

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_SLOPE, TARGET_TIME = 0.6, 1.4  # the targets for the √n-checkpointed step


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128], help="hidden layers")
    p.add_argument("--width", type=int, default=256, help="units per hidden layer (and inputs)")
    p.add_argument("--batch", type=int, default=128, help="samples per step")
    p.add_argument("--reps", type=int, default=5, help="timed steps per measurement (median)")
    p.add_argument("--backends", nargs="+", default=["numpy", "torch"], choices=["numpy", "torch"])
    p.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch threads (0: leave the libraries' default)")
    return p.parse_args()


def main(args):
    if args.threads:  # before NumPy loads its BLAS
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    import numpy as np
    import pandas as pd
    import torch

    from core.analysis.checkpointing.memory import MeasurementError, variant_name
    from core.analysis.checkpointing.sweeps import depth_sweep, fit_slopes

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{platform.machine()} · {platform.processor() or platform.platform()} · {os.cpu_count()} CPUs · "
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} · "
        f"threads: BLAS {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, torch {torch.get_num_threads()} · "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"MLP of n hidden ELU layers × {args.width} units, batch {args.batch}, float64; median of {args.reps} steps\n"
    )

    def progress(done, total):
        if sys.stderr.isatty():
            print(f"\r  measured {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        sweep = depth_sweep(
            args.depths, args.width, args.batch, (None, "sqrt"), args.backends, args.reps, progress=progress
        )
    except MeasurementError as e:
        sys.exit(f"error: {e}")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    plain, sqrt = variant_name(None), variant_name("sqrt")
    table = sweep.pivot_table(index=["backend", "depth"], columns="variant", values=["peak_mb", "seconds"], sort=False)
    table[("peak_mb", "ratio")] = table[("peak_mb", sqrt)] / table[("peak_mb", plain)]
    table[("seconds", "ratio")] = table[("seconds", sqrt)] / table[("seconds", plain)]
    k = sweep[sweep.variant == sqrt].set_index(["backend", "depth"])["k"]
    table.insert(0, ("k", sqrt), k)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print("peak memory (MB = 10⁶ bytes) and seconds per step; ratio = checkpointed / plain")
        print(table.to_string(), "\n")

    slopes = fit_slopes(sweep)
    ratio = sweep.pivot_table(index=["backend", "depth"], columns="variant", values="seconds")
    ratio = (ratio[sqrt] / ratio[plain]).groupby("backend").median()
    print("fitted log-log slopes (value ≈ c · nˢˡᵒᵖᵉ over the depths above)")
    print(
        f"{'backend':8} {'memory plain':>13} {'memory √n':>10} {'time plain':>11} {'time √n':>8} "
        f"{'time √n / plain':>16}  target: memory √n ≤ {TARGET_SLOPE}, time ≤ {TARGET_TIME}×"
    )
    for backend in args.backends:
        s = slopes[slopes.backend == backend].set_index(["variant", "quantity"])["slope"]
        ok = s[(sqrt, "peak_bytes")] <= TARGET_SLOPE and ratio[backend] <= TARGET_TIME
        print(
            f"{backend:8} {s[(plain, 'peak_bytes')]:13.2f} {s[(sqrt, 'peak_bytes')]:10.2f} "
            f"{s[(plain, 'seconds')]:11.2f} {s[(sqrt, 'seconds')]:8.2f} {ratio[backend]:15.2f}×  "
            f"{'met' if ok else 'NOT met'}"
        )

    if 64 in args.depths:
        at64 = sweep[sweep.depth == 64].set_index(["backend", "variant"])
        print("\nat depth 64: peak memory (MB)")
        for backend in args.backends:
            p, c = at64.loc[(backend, plain), "peak_mb"], at64.loc[(backend, sqrt), "peak_mb"]
            print(
                f"  {backend:6} plain {p:8.2f}   k = {at64.loc[(backend, sqrt), 'k']}: {c:7.2f}   "
                f"ratio {c / p:.3f} ({p / c:.1f}× less)"
            )


if __name__ == "__main__":
    main(parse_args())

"""Time one training epoch of the course network, NumPy backend vs PyTorch backend, in one run.

The work: CIFAR-10-shaped random data (50,000 × 3,072, 10 classes) → Linear 128 → [batch norm] → ELU →
Linear 10 → softmax cross-entropy, SGD lr 0.1, batch 128: 391 steps through ``Trainer``,
the same code path the CLI and the app use (including the end-of-epoch validation pass on
1,000 held-out rows). Every epoch starts from the same weights and batch order. The course network is
timed without and with batch norm after the hidden layer (issue 7: NumPy ÷ PyTorch ≤ 1.1).

The figures are also written as JSON (machine, date, and per dtype and batch norm the median, min and max
seconds per epoch of each backend and their ratio) to ``runs/benchmarks/epoch_time.json``, outside the tracked
tree. The NumPy-vs-PyTorch page shows the figures of the tracked ``benchmarks/results/epoch_time.json`` beside
its own measurement: to refresh them, ask for it with ``--out``.

    python benchmarks/epoch_time.py   # float32 and float64, with and without batch norm, 5 repetitions (~2 min)
    python benchmarks/epoch_time.py --reps 3 --dtypes float32
    python benchmarks/epoch_time.py --out benchmarks/results/epoch_time.json   # the figures the app shows
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for core

from core.data.splits import Dataset  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "benchmarks" / "epoch_time.json"  # runs/ is not tracked
NETWORK = "50,000 × 3,072 → 128 [batch norm] ELU → 10, batch 128, SGD lr 0.1"


def cifar_shaped(n_train=50_000, n_val=1_000, D=3_072, C=10, seed=0):
    """Random standardized inputs and labels with CIFAR-10's shapes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, D))
    y = rng.integers(0, C, n_train + n_val)
    empty = np.zeros((0, D))
    return Dataset(
        "cifar-shaped",
        X[:n_train],
        y[:n_train],
        X[n_train:],
        y[n_train:],
        empty,
        np.zeros(0, np.int64),
        C,
        [str(c) for c in range(C)],
        (3, 32, 32),
        np.zeros(D),
        np.ones(D),
    )


def time_epochs(data, backend, dtype, reps, batch_norm=False):
    """Seconds per epoch, one figure per repetition, each from the same initial state."""
    trainer = Trainer(data, TrainConfig(backend=backend, dtype=dtype, epochs=1, batch_norm=batch_norm))
    times = []
    for _ in range(reps + 1):  # the first epoch warms caches and thread pools; not counted
        trainer.reset()
        t0 = time.perf_counter()
        for _ in trainer.run_epoch():
            pass
        times.append(time.perf_counter() - t0)
    return times[1:]


def cpu_name():
    """The processor's model name (Linux), or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine():
    """What the figures depend on, for the JSON file and the first printed line."""
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": cpu_name(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    p.add_argument("--out", type=Path, default=OUT, help="where the JSON figures go (default: %(default)s)")
    args = p.parse_args()
    if args.reps < 1:
        p.error("--reps must be at least 1")
    m = machine()
    print(
        f"python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, {m['cpus']} CPUs, torch threads "
        f"{m['torch_threads']}, OPENBLAS_CORETYPE={m['openblas_coretype']}"
    )
    data = cifar_shaped()
    print(
        f"one epoch: {len(data.y_train):,} × {data.n_features:,} → 128 [BN] ELU → 10, batch 128, SGD; "
        f"median of {args.reps} (min–max)\n"
    )
    print(f"{'dtype':8} {'BN':3} {'numpy s/epoch':>22} {'torch s/epoch':>22} {'numpy/torch':>12}")
    results = []
    for dtype in args.dtypes:
        for batch_norm in (False, True):
            t = {b: time_epochs(data, b, dtype, args.reps, batch_norm) for b in ("numpy", "torch")}
            med = {b: float(np.median(v)) for b, v in t.items()}
            cells = [f"{med[b]:.3f} ({min(t[b]):.3f}–{max(t[b]):.3f})" for b in ("numpy", "torch")]
            ratio = med["numpy"] / med["torch"]
            print(f"{dtype:8} {'yes' if batch_norm else 'no':3} {cells[0]:>22} {cells[1]:>22} {ratio:>12.2f}")
            results.append(
                {
                    "dtype": dtype,
                    "batch_norm": batch_norm,
                    "ratio": ratio,
                    **{b: {"median": med[b], "min": min(v), "max": max(v), "times": v} for b, v in t.items()},
                }
            )
    doc = {
        "benchmark": __doc__.splitlines()[0],
        "network": NETWORK,
        "machine": m,
        "reps": args.reps,
        "measured": datetime.date.today().isoformat(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    shown = args.out.resolve()
    print(f"\nwritten to {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")


if __name__ == "__main__":
    main()

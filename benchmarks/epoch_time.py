"""Time one training epoch of the course network, NumPy backend vs PyTorch backend, in one run.

The work: CIFAR-10-shaped random data (50,000 × 3,072, 10 classes) → Linear 128 → ELU →
Linear 10 → softmax cross-entropy, SGD lr 0.1, batch 128: 391 steps through ``Trainer``,
the same code path the CLI and the app use (including the end-of-epoch validation pass on
1,000 held-out rows). Every epoch starts from the same weights and batch order.

    python benchmarks/epoch_time.py            # float32 and float64, 5 repetitions
    python benchmarks/epoch_time.py --reps 3 --dtypes float32
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.splits import Dataset  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402


def cifar_shaped(n_train=50_000, n_val=1_000, D=3_072, C=10, seed=0):
    """Random standardized inputs and labels with CIFAR-10's shapes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, D))
    y = rng.integers(0, C, n_train + n_val)
    empty = np.zeros((0, D))
    return Dataset("cifar-shaped", X[:n_train], y[:n_train], X[n_train:], y[n_train:], empty,
                   np.zeros(0, np.int64), C, [str(c) for c in range(C)], (3, 32, 32), np.zeros(D), np.ones(D))  # fmt: skip


def time_epochs(data, backend, dtype, reps):
    """Seconds per epoch, one figure per repetition, each from the same initial state."""
    trainer = Trainer(data, TrainConfig(backend=backend, dtype=dtype, epochs=1))
    times = []
    for _ in range(reps + 1):  # the first epoch warms caches and thread pools; not counted
        trainer.reset()
        t0 = time.perf_counter()
        for _ in trainer.run_epoch():
            pass
        times.append(time.perf_counter() - t0)
    return times[1:]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = p.parse_args()
    import torch

    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")  # fmt: skip
    data = cifar_shaped()
    print(f"one epoch: {len(data.y_train):,} × {data.n_features:,} → 128 ELU → 10, batch 128, SGD; "
          f"median of {args.reps} (min–max)\n")  # fmt: skip
    print(f"{'dtype':8} {'numpy s/epoch':>22} {'torch s/epoch':>22} {'numpy/torch':>12}")
    for dtype in args.dtypes:
        t = {b: time_epochs(data, b, dtype, args.reps) for b in ("numpy", "torch")}
        med = {b: float(np.median(v)) for b, v in t.items()}
        cells = [f"{med[b]:.3f} ({min(t[b]):.3f}–{max(t[b]):.3f})" for b in ("numpy", "torch")]
        print(f"{dtype:8} {cells[0]:>22} {cells[1]:>22} {med['numpy'] / med['torch']:>12.2f}")


if __name__ == "__main__":
    main()

"""Saved runs: history CSV, metrics JSON and weights .npz in one directory, loadable by the app."""

import json
from pathlib import Path

import numpy as np
import pandas as pd


def save_run(out_dir, trainer, metrics):
    """Write ``history.csv``, ``metrics.json`` and ``weights.npz`` (W1, b1, W2, b2, …) to ``out_dir``.

    The weights are the best-on-validation ones, the model that ``metrics`` describes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trainer.history().to_csv(out / "history.csv", index=False)
    meta = {"dataset": trainer.data.name, "config": trainer.config.to_dict(), **metrics}
    (out / "metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    arrays = {}
    for l, (W, b) in enumerate(trainer.best["weights"], start=1):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    np.savez(out / "weights.npz", **arrays)
    return out


def load_run(run_dir):
    """(weights [(W, b), …], metrics dict, history DataFrame) from a directory ``save_run`` wrote."""
    run = Path(run_dir)
    try:
        with np.load(run / "weights.npz", allow_pickle=False) as f:
            n = len([k for k in f.files if k.startswith("W")])
            weights = [(f[f"W{l}"], f[f"b{l}"]) for l in range(1, n + 1)]
        metrics = json.loads((run / "metrics.json").read_text())
        history = pd.read_csv(run / "history.csv")
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(
            f"cannot load the run in {run}: {e}. Expected weights.npz, metrics.json and history.csv."
        ) from e
    return weights, metrics, history

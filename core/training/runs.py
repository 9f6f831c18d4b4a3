"""Saved runs: history CSV, metrics JSON and weights .npz in one directory, loadable by the app."""

import json
from pathlib import Path

import numpy as np
import pandas as pd


def save_run(out_dir, trainer, metrics):
    """Write ``history.csv``, ``metrics.json`` and ``weights.npz`` to ``out_dir``.

    The weights are the best-on-validation ones, the model that ``metrics`` describes, in the
    common dict form (W1, b1, …, and with batch norm gamma1, beta1, running_mean1, running_var1).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trainer.history().to_csv(out / "history.csv", index=False)
    meta = {"dataset": trainer.data.name, "config": trainer.config.to_dict(), **metrics}
    (out / "metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    np.savez(out / "weights.npz", **trainer.best["weights"])
    return out


def load_run(run_dir):
    """(weights in the common dict form, metrics dict, history DataFrame) from a directory ``save_run`` wrote.

    The arrays are read with ``allow_pickle=False``: a crafted file cannot run code.
    """
    run = Path(run_dir)
    try:
        with np.load(run / "weights.npz", allow_pickle=False) as f:
            weights = {name: f[name] for name in f.files}
        metrics = json.loads((run / "metrics.json").read_text())
        history = pd.read_csv(run / "history.csv")
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(
            f"cannot load the run in {run}: {e}. Expected weights.npz, metrics.json and history.csv."
        ) from e
    return weights, metrics, history

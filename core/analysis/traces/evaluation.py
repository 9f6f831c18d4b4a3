"""What the Playground draws from a trained model: decision regions and a confusion matrix."""

import numpy as np
import pandas as pd


def decision_grid(predict_proba, data, resolution=60, margin=0.1, include=None):
    """The predicted class over a grid covering the 2-D data, in the data's own coordinates.

    ``predict_proba`` maps standardized inputs (M, 2) to probabilities (M, C). The grid spans all
    splits (and the raw points ``include`` (K, 2), e.g. a typed sample) plus ``margin`` × the range
    on each side, ``resolution`` cells per axis.

    Returns a long-form DataFrame, one row per cell: x0, x0_end, x1, x1_end (cell corners; the
    features x₀, x₁ counted from 0 as in ``core.analysis.text.notation``), predicted (class name),
    confidence (its probability), finite (False where the network's output is NaN or ∞: such a
    cell has no prediction, its confidence is 0).
    """
    raw = np.concatenate([data.to_raw(X) for X in (data.X_train, data.X_val, data.X_test)])  # (N, 2)
    if include is not None:
        raw = np.concatenate([raw, np.asarray(include, dtype=np.float64).reshape(-1, 2)])
    span = np.maximum(raw.max(axis=0) - raw.min(axis=0), 1e-12)  # (2,)
    lo, hi = raw.min(axis=0) - margin * span, raw.max(axis=0) + margin * span
    edges = [np.linspace(lo[k], hi[k], resolution + 1) for k in range(2)]
    centres = [(e[:-1] + e[1:]) / 2 for e in edges]
    g1, g2 = np.meshgrid(centres[0], centres[1], indexing="ij")  # (R, R)
    points = np.stack([g1.ravel(), g2.ravel()], axis=1)  # (R², 2)
    with np.errstate(over="ignore", invalid="ignore"):
        probs = predict_proba(data.from_raw(points))
    finite = np.isfinite(probs).all(axis=1)  # (R²,)
    pred = np.nan_to_num(probs, nan=0.0).argmax(axis=1)
    i1, i2 = np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="ij")
    i1, i2 = i1.ravel(), i2.ravel()
    return pd.DataFrame(
        {
            "x0": edges[0][i1],
            "x0_end": edges[0][i1 + 1],
            "x1": edges[1][i2],
            "x1_end": edges[1][i2 + 1],
            "predicted": np.asarray(data.class_names)[pred],
            "confidence": np.where(finite, probs[np.arange(len(pred)), pred], 0.0),  # a NaN network: blank cells
            "finite": finite,
        }
    )


def points_frame(data, splits=("train", "test")):
    """The data points in their own coordinates: x0, x1 (the features x₀, x₁), class (name), split."""
    frames = []
    for split in splits:
        X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
        raw = data.to_raw(X)
        frames.append(
            pd.DataFrame({"x0": raw[:, 0], "x1": raw[:, 1], "class": np.asarray(data.class_names)[y], "split": split})
        )
    return pd.concat(frames, ignore_index=True)


def confusion_matrix(y_true, y_pred, class_names):
    """Counts of (true, predicted) pairs, long form: true, predicted, count, share_of_true.

    Every pair appears, zeros included, so the heatmap is a full C × C square.
    """
    C = len(class_names)
    counts = np.zeros((C, C), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    totals = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(totals, 1)
    t, p = np.meshgrid(np.arange(C), np.arange(C), indexing="ij")
    names = np.asarray(class_names)
    return pd.DataFrame(
        {
            "true": names[t.ravel()],
            "predicted": names[p.ravel()],
            "count": counts.ravel(),
            "share_of_true": share.ravel(),
        }
    )

"""Two-dimensional toy classification sets, small enough to draw a decision boundary.

All sets share one convention: ``noise`` is the standard deviation of the Gaussian jitter
added to each coordinate (blobs: each blob's std is ``3 * noise``). Classes are balanced
(sizes differ by at most one), the rows are shuffled, and the clean shapes lie in [-1, 2]^2.
"""

import numpy as np

from core.data.splits import DatasetError

TOY_DATASETS = ("moons", "circles", "spiral", "xor", "blobs")

TOY_CLASS_NAMES = {
    "moons": ["upper moon", "lower moon"],
    "circles": ["outer circle", "inner circle"],
    "spiral": ["arm 0", "arm 1", "arm 2"],
    "xor": ["same sign", "opposite signs"],
    "blobs": ["blob 0", "blob 1", "blob 2"],
}

BLOB_CENTRES = np.array([[0.0, 1.0], [-0.866, -0.5], [0.866, -0.5]])  # unit triangle
BLOB_SPREAD = 3.0  # blob std = BLOB_SPREAD * noise


def _moon(c, m, rng):
    t = np.linspace(0.0, np.pi, m)
    if c == 0:
        return np.column_stack([np.cos(t), np.sin(t)])  # upper arc, centre (0, 0)
    return np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)])  # lower arc, centre (1, 0.5)


def _circle(c, m, rng):
    t = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
    radius = 1.0 if c == 0 else 0.5  # inner radius factor 0.5
    return radius * np.column_stack([np.cos(t), np.sin(t)])


def _spiral_arm(c, m, rng):
    r = np.linspace(0.05, 1.0, m)
    t = 2 * np.pi * c / 3 + 4.0 * r  # arms start 120 degrees apart, each turns 4 rad
    return r[:, None] * np.column_stack([np.sin(t), np.cos(t)])


def _xor(c, m, rng):
    x = rng.uniform(0.0, 1.0, size=(m, 2))  # |x0|, |x1|
    s = rng.choice([-1.0, 1.0], size=m)
    signs = np.column_stack([s, s if c == 0 else -s])  # class 1: sign(x0) != sign(x1)
    return x * signs


def _blob(c, m, rng):
    return np.repeat(BLOB_CENTRES[c : c + 1], m, axis=0)


_SHAPES = {"moons": _moon, "circles": _circle, "spiral": _spiral_arm, "xor": _xor, "blobs": _blob}


def check_toy_args(n_samples, noise):
    """Raise DatasetError unless 20 ≤ n_samples ≤ 10,000 and 0 ≤ noise ≤ 2."""
    if not 20 <= n_samples <= 10_000:
        raise DatasetError(f"n_samples must be between 20 and 10,000, got {n_samples}.")
    if not 0.0 <= noise <= 2.0:  # False for NaN too
        raise DatasetError(f"noise must be between 0 and 2, got {noise}.")


def make_toy(name: str, n_samples: int = 400, noise: float = 0.1, seed: int = 0):
    """Sample a toy set: ``x = shape_y(t) + noise * eps``, eps ~ N(0, I).

    Args:
        name: one of TOY_DATASETS.
        n_samples: N, in [20, 10_000].
        noise: jitter std, in [0, 2].
        seed: seed of ``np.random.default_rng``; the same seed gives the same set.

    Returns:
        X (N, 2) float64 and y (N,) int64 in 0..K-1 (K = 3 for spiral and blobs, else 2).
    """
    if name not in TOY_DATASETS:
        raise DatasetError(f"Unknown toy data set {name!r}; choose one of {', '.join(TOY_DATASETS)}.")
    check_toy_args(n_samples, noise)
    rng = np.random.default_rng(seed)
    K = len(TOY_CLASS_NAMES[name])
    sizes = [n_samples // K + (c < n_samples % K) for c in range(K)]  # balanced
    X = np.concatenate([_SHAPES[name](c, m, rng) for c, m in enumerate(sizes)])  # (N, 2)
    y = np.repeat(np.arange(K, dtype=np.int64), sizes)  # (N,)
    std = noise * (BLOB_SPREAD if name == "blobs" else 1.0)
    X = X + std * rng.standard_normal(X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]

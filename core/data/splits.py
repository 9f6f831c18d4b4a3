"""The Dataset container, seeded stratified splits and standardization.

Convention (stated once): every ``X`` in a Dataset is standardized,
``X = (raw / raw_scale - mean) / std``, so the file's original values are
``raw = (X * std + mean) * raw_scale`` (pixels 0..16 for digits, 0..255 for
MNIST and CIFAR-10, coordinates for the toy sets). ``mean`` and ``std`` always
have shape (D,).
"""

import math
from dataclasses import dataclass

import numpy as np


class DatasetError(ValueError):
    """A data set cannot be made: unknown name, bad argument, missing or corrupt file."""


class MissingDataError(DatasetError):
    """The data set's files are not on disk (a download may fix it)."""


@dataclass(eq=False, repr=False)
class Dataset:
    """A split, standardized classification data set.

    Shape:
        X_train (N_train, D), X_val (N_val, D), X_test (N_test, D): float64, standardized.
        y_train (N_train,), y_val (N_val,), y_test (N_test,): int64 in 0..n_classes-1.
        mean (D,), std (D,): the standardization, in units of ``raw / raw_scale``.
    """

    name: str  # one of DATASETS, or "csv" for a user's file
    X_train: np.ndarray  # (N_train, D) float64
    y_train: np.ndarray  # (N_train,) int64
    X_val: np.ndarray  # (N_val, D) float64
    y_val: np.ndarray  # (N_val,) int64
    X_test: np.ndarray  # (N_test, D) float64
    y_test: np.ndarray  # (N_test,) int64
    n_classes: int  # number of labels K
    class_names: list[str]  # K readable names, index = label
    image_shape: tuple | None  # (8, 8), (28, 28), (3, 32, 32); None for the toy sets
    mean: np.ndarray  # (D,) subtracted after dividing by raw_scale
    std: np.ndarray  # (D,) divided by after subtracting the mean
    raw_scale: float = 1.0  # 16.0 digits, 255.0 mnist/cifar10, 1.0 toy sets

    @property
    def n_features(self) -> int:
        """D, the length of one input vector."""
        return self.X_train.shape[1]

    def to_raw(self, X: np.ndarray) -> np.ndarray:
        """Undo the standardization: (N, D) standardized -> (N, D) in the file's units.

        ``raw = (X * std + mean) * raw_scale``; reshape a row to ``image_shape`` to draw it.
        """
        return (X * self.std + self.mean) * self.raw_scale

    def from_raw(self, raw: np.ndarray) -> np.ndarray:
        """Standardize inputs given in the file's units, as the network sees them.

        ``X = (raw / raw_scale − mean) / std``: (N, D) or one sample (D,) → the same shape.
        """
        return (np.asarray(raw, dtype=np.float64) / self.raw_scale - self.mean) / self.std

    def image(self, x: np.ndarray) -> np.ndarray:
        """One standardized sample (D,) as a picture in [0, 1]: (H, W) grey or (H, W, 3) colour.

        Raises ValueError for a data set without ``image_shape`` (the toy sets).
        """
        if self.image_shape is None:
            raise ValueError(f"{self.name} is not an image data set")
        img = (self.to_raw(np.asarray(x)[None, :])[0] / self.raw_scale).reshape(self.image_shape)
        if img.ndim == 3:  # CIFAR-10 is channel-first in the file
            img = img.transpose(1, 2, 0)
        return np.clip(img, 0.0, 1.0)

    def summary(self) -> str:
        """One line, e.g. "digits: 1,257 train / 180 val / 360 test, 64 features, 10 classes"."""
        return f"{self.name}: {self.sizes()}"

    def sizes(self) -> str:
        """The summary without the name: "1,257 train / 180 val / 360 test, 64 features, 10 classes"."""
        return (
            f"{len(self.y_train):,} train / {len(self.y_val):,} val / "
            f"{len(self.y_test):,} test, {self.n_features:,} features, {self.n_classes} classes"
        )

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"


def held_out_size(n: int, fraction: float) -> int:
    """Number of samples a held-out part gets: ceil(fraction * n), as scikit-learn rounds."""
    return math.ceil(fraction * n)


def stratified_split(
    y: np.ndarray, n_val: int, n_test: int = 0, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split of indices into train / val / test with class proportions kept.

    Each sample gets its quantile within its own class (in a random order); sorting by that
    quantile interleaves the classes evenly, so every consecutive slice holds each class in
    proportion, to within one sample. The slices are cut at exact sizes and shuffled.

    Args:
        y: (N,) integer labels.
        n_val, n_test: sizes of the held-out parts; train gets the rest.
        seed: seed of ``np.random.default_rng``; the same seed gives the same split.

    Returns:
        (train_idx, val_idx, test_idx): disjoint int64 index arrays covering 0..N-1.
    """
    N = len(y)
    if n_val < 0 or n_test < 0 or n_val + n_test >= N:
        raise DatasetError(f"Cannot hold out {n_val} + {n_test} of {N} samples.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(N)  # (N,) random visiting order
    quantile = np.empty(N)
    for c in np.unique(y):
        idx = order[y[order] == c]  # class c, in random order
        quantile[idx] = (np.arange(len(idx)) + 0.5) / len(idx)
    interleaved = order[np.argsort(quantile[order], kind="stable")]
    n_train = N - n_val - n_test
    parts = np.split(interleaved, [n_train, n_train + n_val])
    return tuple(rng.permutation(p).astype(np.int64) for p in parts)


def fit_standardizer(X: np.ndarray, floor: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training set, std < floor replaced by 1.

    The floor keeps constant features (the blank border pixels of digits) at 0 instead of
    dividing by zero. The std is the biased one (ddof=0), as ``np.std``.

    Shape: X (N, D) -> mean (D,), std (D,).
    """
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std < floor] = 1.0
    return mean, std


def standardize(X: np.ndarray, mean: np.ndarray, std: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """(X / scale - mean) / std as a new float64 array, computed in place to spare memory.

    Shape: X (N, D) of any numeric dtype, mean and std broadcastable to (D,) -> (N, D).
    """
    Z = np.divide(X, scale, dtype=np.float64)  # (N, D), the only allocation
    Z -= mean
    Z /= std
    return Z


def assemble(name, parts, class_names, image_shape, raw_scale, mean, std) -> Dataset:
    """A Dataset from raw (X, y) parts [train, val, test], standardized with ``mean`` and ``std`` (D,).

    ``X = (raw / raw_scale − mean) / std`` for every part, with the statistics given (the training
    set's, or fixed ones); an image part (N, H, W) or (N, C, H, W) is flattened to (N, D) first.
    """
    arrays = []
    for X, y in parts:
        arrays += [standardize(X.reshape(len(X), len(mean)), mean, std, raw_scale), y]  # (N, D), also for N = 0
    return Dataset(
        name,
        *arrays,
        n_classes=len(class_names),
        class_names=list(class_names),
        image_shape=image_shape,
        mean=np.asarray(mean, dtype=np.float64),
        std=np.asarray(std, dtype=np.float64),
        raw_scale=raw_scale,
    )

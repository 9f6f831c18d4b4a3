"""Data sets of the lab: 2-D toy sets, the embedded 8x8 digits, MNIST and CIFAR-10.

``load_dataset(name)`` returns a split, standardized ``Dataset``; the ``*_raw`` loaders
return the files' own arrays. See ``core.data.splits`` for the standardization convention.
"""

from pathlib import Path

import numpy as np

from core.data.cifar10 import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, load_cifar10_raw
from core.data.csv import inspect_csv, load_csv
from core.data.digits import load_digits_raw
from core.data.download import download_cifar10, download_mnist, files_present
from core.data.mnist import load_mnist_raw, read_idx
from core.data.splits import (
    Dataset,
    DatasetError,
    MissingDataError,
    assemble,
    fit_standardizer,
    held_out_size,
    stratified_split,
)
from core.data.toy import TOY_CLASS_NAMES, TOY_DATASETS, make_toy

__all__ = [
    "DATASETS",
    "IMAGE_DATASETS",
    "TOY_DATASETS",
    "Dataset",
    "DatasetError",
    "download_cifar10",
    "download_mnist",
    "files_present",
    "inspect_csv",
    "load_csv",
    "load_cifar10_raw",
    "load_dataset",
    "load_digits_raw",
    "load_mnist_raw",
    "make_toy",
    "read_idx",
]

DATASETS = ("digits", "moons", "circles", "spiral", "xor", "blobs", "mnist", "cifar10")
IMAGE_DATASETS = ("digits", "mnist", "cifar10")
MAX_VAL_IMAGES = 5000  # MNIST / CIFAR-10 validation size: min(5000, 10% of the training files)
DIGIT_NAMES = [str(k) for k in range(10)]
DATA_DIR = str(Path(__file__).resolve().parents[2] / "data")  # the repository's data/, from any folder
SPLIT_SEED = 0  # image sets: one fixed split, so runs with different seeds share a test set


def load_dataset(name: str, *, data_dir=DATA_DIR, n_samples=400, noise=0.1, seed=42, download=False) -> Dataset:
    """Load, split and standardize a data set by name (one of DATASETS).

    - toy sets: ``make_toy(name, n_samples, noise, seed)``, stratified 60/20/20 split,
      per-feature standardization with training statistics.
    - digits: stratified 70/10/20 split, pixels / 16, per-feature standardization with
      training statistics (std < 1e-8, the blank border, counts as 1).
    - mnist: the 60k/10k files; min(5000, 10%) of the training images become validation
      (stratified, seeded); pixels / 255 standardized with ONE mean and std over all training
      pixels (about 0.131 and 0.308): per-pixel statistics would blow up border pixels
      that are almost always 0.
    - cifar10: the 50k/10k files; validation as mnist; pixels / 255 normalized per channel
      with the fixed means (0.491, 0.482, 0.447) and stds (0.247, 0.243, 0.262); rows are
      flattened in channel-first order (C, H, W).

    ``seed`` generates and splits the toy sets. The image sets always use the split of
    ``SPLIT_SEED``: the test set stays the same whatever seed a run trains with, so runs
    are compared on the same images.

    Held-out sizes round up (ceil), as scikit-learn does. Missing MNIST / CIFAR-10 files are
    downloaded first if ``download`` is true, else DatasetError says how to get them.

    Shape: every X is (N, D) float64 with D = 2, 64, 784 or 3072; every y is (N,) int64.
    """
    if name in TOY_DATASETS:
        X, y = make_toy(name, n_samples, noise, seed)  # (N, 2), (N,)
        n_held = held_out_size(len(y), 0.2)
        parts = [(X[i], y[i]) for i in stratified_split(y, n_held, n_held, seed=seed)]
        mean, std = fit_standardizer(parts[0][0])
        return assemble(name, parts, TOY_CLASS_NAMES[name], None, 1.0, mean, std)
    if name == "digits":
        X, y = load_digits_raw(data_dir)  # (1797, 64), (1797,)
        n_val, n_test = held_out_size(len(y), 0.1), held_out_size(len(y), 0.2)
        parts = [(X[i], y[i]) for i in stratified_split(y, n_val, n_test, seed=SPLIT_SEED)]
        mean, std = fit_standardizer(parts[0][0] / 16.0)
        return assemble(name, parts, DIGIT_NAMES, (8, 8), 16.0, mean, std)
    if name == "mnist":
        X_train, y_train, X_test, y_test = _raw(load_mnist_raw, download_mnist, data_dir, download)
        parts = _hold_out_val(X_train, y_train, SPLIT_SEED) + [(X_test, y_test)]
        X_fit = parts[0][0]  # (N_train, 28, 28) uint8
        std = X_fit.std() / 255.0
        mean, std = np.full(784, X_fit.mean() / 255.0), np.full(784, std if std > 1e-8 else 1.0)  # blank images: 1
        return assemble(name, parts, DIGIT_NAMES, (28, 28), 255.0, mean, std)
    if name == "cifar10":
        X_train, y_train, X_test, y_test = _raw(load_cifar10_raw, download_cifar10, data_dir, download)
        parts = _hold_out_val(X_train, y_train, SPLIT_SEED) + [(X_test, y_test)]
        mean, std = np.repeat(CIFAR10_MEAN, 1024), np.repeat(CIFAR10_STD, 1024)  # (3072,)
        return assemble(name, parts, CIFAR10_CLASSES, (3, 32, 32), 255.0, mean, std)
    raise DatasetError(f"Unknown data set {name!r}; choose one of {', '.join(DATASETS)}.")


def _raw(load, get, data_dir, download):
    try:
        return load(data_dir)
    except MissingDataError:
        if not download:
            raise
    get(data_dir)
    return load(data_dir)


def _hold_out_val(X, y, seed):
    if len(y) < 10:
        raise DatasetError(f"The training files hold {len(y)} images; at least 10 are needed (one for validation).")
    n_val = min(MAX_VAL_IMAGES, len(y) // 10)
    train, val, _ = stratified_split(y, n_val, seed=seed)
    return [(X[train], y[train]), (X[val], y[val])]

"""CIFAR-10 (A. Krizhevsky, 2009) from its python-pickle or binary batches.

Python version: each batch is a pickled dict with b"data" (N, 3072) uint8 and b"labels"
(N ints). Pickles can run code, so they are read with an unpickler that can only build
numpy arrays. Binary version: N records of 1 label byte then 3072 pixel bytes.
Both store an image as 1024 red, then 1024 green, then 1024 blue bytes (row-major 32x32).
"""

import codecs
import pickle
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct  # what ndarray.__reduce__ names
from numpy._core.numeric import _frombuffer  # what ndarray.__reduce_ex__(5) names

from core.data.download import CIFAR10_DIRS, CIFAR10_TARBALLS, extract_tar
from core.data.splits import DatasetError, MissingDataError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
PIXELS = 3 * 32 * 32  # bytes per image
CIFAR10_MEAN = (0.491, 0.482, 0.447)  # per channel (R, G, B) of pixels / 255, training set
CIFAR10_STD = (0.247, 0.243, 0.262)

# The only globals a pickled uint8 array refers to (numpy 1.x wrote numpy.core, 2.x numpy._core).
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 stores bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _SAFE_GLOBALS:
            raise DatasetError(f"it refers to {module}.{name}, which a CIFAR-10 batch never needs")
        return _SAFE_GLOBALS[module, name]


def _read_python_batch(path: Path):
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except DatasetError as err:
        raise DatasetError(f"Refusing to load {path}: {err}.") from err
    except Exception as err:  # a corrupt pickle can raise almost anything
        raise DatasetError(f"{path} cannot be read ({err!r}): it is truncated or corrupt.") from err
    if not isinstance(batch, dict):
        raise DatasetError(f"{path} does not hold a CIFAR-10 batch (a dict).")
    batch = {k.decode(errors="replace") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    try:
        X, y = batch.get("data"), np.asarray(batch.get("labels"), dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path} has malformed labels under b'labels' ({err}).") from err
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != PIXELS:
        raise DatasetError(f"{path} has no (N, 3072) uint8 array under b'data'.")
    return X, y


def _read_binary_batch(path: Path):
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % (1 + PIXELS):
        raise DatasetError(
            f"{path} is {len(raw):,} bytes, not a whole number of 3,073-byte records: it is truncated or corrupt."
        )
    records = np.frombuffer(raw, np.uint8).reshape(-1, 1 + PIXELS)  # (N, 3073)
    return records[:, 1:].copy(), records[:, 0]


def _load_folder(folder: Path, fmt: str):
    suffix, read = ("", _read_python_batch) if fmt == "python" else (".bin", _read_binary_batch)
    paths = [folder / (name + suffix) for name in BATCHES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{folder} is incomplete: {', '.join(missing)} missing. Delete it and download again.")
    Xs, ys = [], []
    for path in paths:
        X, y = read(path)
        if y.shape != (len(X),) or not np.isin(y, np.arange(10)).all():
            raise DatasetError(f"{path} does not hold {len(X):,} labels in 0..9.")
        Xs.append(X.reshape(-1, 3, 32, 32))  # (N, C, H, W), the file's channel-first layout
        ys.append(y.astype(np.int64))
    return np.concatenate(Xs[:5]), np.concatenate(ys[:5]), Xs[5], ys[5]


def load_cifar10_raw(data_dir="data"):
    """Load CIFAR-10 from ``<data_dir>``, trying in order: cifar-10-batches-py/,
    cifar-10-batches-bin/, then extracting cifar-10-python.tar.gz or cifar-10-binary.tar.gz.

    Returns:
        X_train (50000, 3, 32, 32) uint8, y_train (50000,) int64,
        X_test (10000, 3, 32, 32) uint8, y_test (10000,) int64 (any N for smaller files).
    """
    root = Path(data_dir)
    for fmt, folder in CIFAR10_DIRS.items():
        if (root / folder).is_dir():
            return _load_folder(root / folder, fmt)
    for fmt, tarball in CIFAR10_TARBALLS.items():
        if (root / tarball).is_file():
            extract_tar(root / tarball, root)
            return _load_folder(root / CIFAR10_DIRS[fmt], fmt)
    raise MissingDataError(
        f"CIFAR-10 not found in {root}: expected the folder {CIFAR10_DIRS['python']} "
        f"({', '.join(BATCHES)}) or {CIFAR10_DIRS['binary']} (the same names with .bin), "
        f"or the tarball {CIFAR10_TARBALLS['python']}. Download it with "
        "`python -m core.train --dataset cifar10 --download` or copy it there (see data/README.md)."
    )

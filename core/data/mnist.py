"""MNIST from its four IDX files (Y. LeCun, C. Cortes, C. J. C. Burges).

IDX layout: two zero bytes, a dtype code (0x08 = unsigned byte), the number of dimensions,
each dimension as a big-endian uint32, then the values, big-endian, row-major.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from core.data.download import MNIST_DIR, MNIST_FILES
from core.data.splits import DatasetError, MissingDataError

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_IDX_DIMS = 3  # images (N, rows, columns); labels have 1
MAX_IDX_BYTES = 64 * 2**20  # data bytes of one file; MNIST's largest (60,000 × 28 × 28) holds 47,040,000


def read_idx(path) -> np.ndarray:
    """Parse one IDX file, gzip-compressed if its name ends in .gz.

    Returns an array of the header's shape, e.g. (N, 28, 28) uint8 for images, (N,) for
    labels, in native byte order. A bad magic number, 0 or more than 3 dimensions, a header
    that declares more than MAX_IDX_BYTES of data, or a byte count that does not match the
    header exactly raises DatasetError naming the file. The header is checked before the data
    is read, and no more than it declares is ever decompressed (a gzip bomb stops there).
    """
    path = Path(path)
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
            return _read_idx(f, path)
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path} cannot be read ({err}): it is truncated or corrupt.") from err


def _read_idx(f, path):
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file: its magic number is wrong.")
    ndim = head[3]
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise DatasetError(f"{path} declares {ndim} dimensions; an MNIST file has 1 to {MAX_IDX_DIMS}.")
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"{path} is truncated: its header is incomplete.")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = np.dtype(IDX_DTYPES[head[2]])
    expected = math.prod(dims) * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise DatasetError(
            f"{path} declares {dims}: {expected:,} data bytes, more than the {MAX_IDX_BYTES:,} an MNIST file holds."
        )
    raw = f.read(expected)
    if len(raw) < expected:
        raise DatasetError(
            f"{path} holds {len(raw):,} data bytes but its header {dims} needs {expected:,}: the file is truncated."
        )
    if f.read(1):
        raise DatasetError(
            f"{path} holds more than the {expected:,} data bytes its header {dims} declares: it is corrupt."
        )
    return np.frombuffer(raw, dtype).reshape(dims).astype(dtype.newbyteorder("="))


def missing_mnist_message(folder: Path) -> str:
    """What to do when the MNIST files are not in ``folder``."""
    return (
        f"MNIST not found in {folder}: expected {', '.join(MNIST_FILES)}. Download them with "
        f"`python -m core.train --dataset mnist --download` or copy them there (see data/README.md)."
    )


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_mnist_raw(data_dir="data"):
    """Load ``<data_dir>/mnist/``: the four files, with or without .gz.

    Returns:
        X_train (60000, 28, 28) uint8, y_train (60000,) int64,
        X_test (10000, 28, 28) uint8, y_test (10000,) int64 (any N for smaller files).
    """
    folder = Path(data_dir) / MNIST_DIR
    paths = [_find(folder, name) for name in MNIST_FILES]
    if None in paths:
        raise MissingDataError(missing_mnist_message(folder))
    arrays = []
    for images_path, labels_path in (paths[:2], paths[2:]):
        X, y = read_idx(images_path), read_idx(labels_path)
        if X.dtype != np.uint8 or X.ndim != 3 or X.shape[1:] != (28, 28):
            raise DatasetError(f"{images_path} does not hold 28x28 byte images (shape {X.shape}).")
        if y.dtype != np.uint8 or y.shape != (len(X),) or y.max(initial=0) > 9:
            raise DatasetError(f"{labels_path} does not hold {len(X):,} labels in 0..9 to match {images_path.name}.")
        arrays += [X, y.astype(np.int64)]
    return tuple(arrays)

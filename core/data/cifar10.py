"""CIFAR-10 (A. Krizhevsky, 2009) from its python-pickle or binary batches.

Python version: each batch is a pickled dict with b"data" (N, 3072) uint8 and b"labels"
(N ints). Pickles can run code, so they are read with an unpickler that can only build
numpy arrays, of at most one batch's size: the file's size, every array's shape, the pickle's
memo and the labels are checked before memory is allocated for them (a 300-byte pickle can
ask for gigabytes). Binary version: N records of 1 label byte then 3072 pixel bytes.
Both store an image as 1024 red, then 1024 green, then 1024 blue bytes (row-major 32x32).
"""

import codecs
import io
import math
import pickle
import pickletools
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct  # what ndarray.__reduce__ names
from numpy._core.numeric import _frombuffer  # what ndarray.__reduce_ex__(5) names

from core.data.download import CIFAR10_DIRS, CIFAR10_TARBALLS, extract_tar
from core.data.splits import DatasetError, MissingDataError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
PIXELS = 3 * 32 * 32  # bytes per image
MAX_BATCH_IMAGES = 10_000  # images (and labels) in one batch of the real files
MAX_BATCH_BYTES = 32 * 2**20  # one batch file; the real ones are 31.0 MB (python) and 30.7 MB (binary)
CIFAR10_MEAN = (0.491, 0.482, 0.447)  # per channel (R, G, B) of pixels / 255, training set
CIFAR10_STD = (0.247, 0.243, 0.262)


def _ndarray(*args):
    """What a pickle gets for numpy.ndarray: the type ``_array`` builds, never called (it would allocate any shape)."""
    raise DatasetError("it calls numpy.ndarray, which a CIFAR-10 batch never does")


def _array(subtype, shape, typecode):
    """numpy's ``_reconstruct`` (how a pickled array starts; it allocates ``shape``), for at most one batch."""
    if subtype is not _ndarray or not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise DatasetError("it builds an array in a way a CIFAR-10 batch never does")
    if math.prod(shape) * np.dtype(typecode).itemsize > MAX_BATCH_IMAGES * PIXELS:
        raise DatasetError(f"it declares an array of shape {shape}, more bytes than a batch holds")
    return _reconstruct(np.ndarray, shape, typecode)


def _latin1(text, encoding):
    """``codecs.encode`` as protocol 2 stores bytes (latin-1 only: other codecs can grow their input)."""
    if not isinstance(text, str) or encoding != "latin1":
        raise DatasetError(f"it encodes with {encoding!r}, which a CIFAR-10 batch never does")
    return codecs.encode(text, encoding)


# The only globals a pickled uint8 array refers to (numpy 1.x wrote numpy.core, 2.x numpy._core), each bounded.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _array,
    ("numpy._core.multiarray", "_reconstruct"): _array,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # a view of bytes already read: no allocation
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _SAFE_GLOBALS:
            raise DatasetError(f"it refers to {module}.{name}, which a CIFAR-10 batch never needs")
        return _SAFE_GLOBALS[module, name]


def _check_memo(blob):
    """Refuse a memo index beyond the objects stored so far: the unpickler would allocate a memo that long."""
    stored = 0
    for opcode, arg, _ in pickletools.genops(blob):
        if opcode.name in _MEMO_PUTS:
            if arg > stored + 1:  # Python 2's cPickle, which wrote the real files, counts from 1
                raise DatasetError(f"it stores an object at memo index {arg:,} after {stored:,} objects")
            stored += 1
        elif opcode.name == "MEMOIZE":
            stored += 1


def _read_batch_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise DatasetError(f"{path} is {size:,} bytes; a CIFAR-10 batch is at most {MAX_BATCH_BYTES:,}.")
    return path.read_bytes()


def _read_python_batch(path: Path):
    blob = _read_batch_bytes(path)
    try:
        _check_memo(blob)
        batch = _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except DatasetError as err:
        raise DatasetError(f"Refusing to load {path}: {err}.") from err
    except Exception as err:  # a corrupt pickle can raise almost anything
        raise DatasetError(f"{path} cannot be read ({err!r}): it is truncated or corrupt.") from err
    if not isinstance(batch, dict):
        raise DatasetError(f"{path} does not hold a CIFAR-10 batch (a dict).")
    batch = {k.decode(errors="replace") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    labels = batch.get("labels")  # a list of ints, checked before numpy copies it
    malformed = f"{path} has malformed labels under b'labels'"
    if not isinstance(labels, list) or len(labels) > MAX_BATCH_IMAGES or any(type(v) is not int for v in labels):
        raise DatasetError(f"{malformed}: not a list of at most {MAX_BATCH_IMAGES:,} whole numbers.")
    try:
        X, y = batch.get("data"), np.array(labels, dtype=np.int64)
    except OverflowError as err:
        raise DatasetError(f"{malformed} ({err}).") from err
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != PIXELS:
        raise DatasetError(f"{path} has no (N, 3072) uint8 array under b'data'.")
    return X, y


def _read_binary_batch(path: Path):
    raw = _read_batch_bytes(path)
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

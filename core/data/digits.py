"""The 8x8 handwritten digits that ship with the repository (data/digits.csv.gz).

1,797 images: the test part of the UCI "Optical Recognition of Handwritten Digits" set
(E. Alpaydin and C. Kaynak, 1998, CC BY 4.0), as distributed with scikit-learn.
Each CSV row holds 64 pixel counts in 0..16 (row-major 8x8), then the label 0..9.
"""

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

from core.data.splits import DatasetError, MissingDataError

DIGITS_FILE = "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def load_digits_raw(data_dir="data"):
    """Read and verify the digits file.

    Returns:
        X (1797, 64) float64 pixel counts in 0..16 and y (1797,) int64 labels in 0..9.
    """
    path = Path(data_dir) / DIGITS_FILE
    restore = f"It ships with the repository: restore it with `git checkout -- {path}`."
    if not path.is_file():
        raise MissingDataError(f"Digits not found: expected {path}. {restore}")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != DIGITS_SHA256:
        raise DatasetError(f"{path} does not match its sha256 checksum (corrupt or changed). {restore}")
    table = np.loadtxt(io.StringIO(gzip.decompress(blob).decode("ascii")), delimiter=",")
    X, y = table[:, :64], table[:, 64].astype(np.int64)  # (1797, 64), (1797,)
    return X, y

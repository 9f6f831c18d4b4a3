"""Where MNIST and CIFAR-10 come from: official locations, checksums, safe extraction.

Every download streams to a temporary file next to its destination, is checked against the
published md5, and only then is renamed into place, so a partial file never looks complete.
"""

import contextlib
import hashlib
import http.client
import os
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from core.data.splits import DatasetError

TIMEOUT_S = 60  # seconds without data before a download gives up
CHUNK = 1 << 20  # bytes read at a time

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_DIR = "mnist"  # under the data directory
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_FILES = tuple(MNIST_MD5)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/"
CIFAR10_TARBALLS = {"python": "cifar-10-python.tar.gz", "binary": "cifar-10-binary.tar.gz"}
CIFAR10_MD5 = {"python": "c58f30108f718f92721af3b95e74349a", "binary": "c32a1d4ab5d03f1284b67883e8d87530"}
CIFAR10_DIRS = {"python": "cifar-10-batches-py", "binary": "cifar-10-batches-bin"}  # in the tarballs


def files_present(name, data_dir) -> bool:
    """True unless ``name`` is MNIST or CIFAR-10 and none of its files is in ``data_dir``.

    A quick look for the UI (it does not validate the files; loading does that).
    """
    folder = Path(data_dir)
    if name == "mnist":
        first = MNIST_FILES[0]
        return any((folder / MNIST_DIR / f).exists() for f in (first, first.removesuffix(".gz")))
    if name == "cifar10":
        return any((folder / f).exists() for f in (*CIFAR10_DIRS.values(), *CIFAR10_TARBALLS.values()))
    return True


def fetch(url: str, dest, md5: str) -> None:
    """Download ``url`` to ``dest``, verifying its md5 before renaming it into place.

    Raises DatasetError on a network failure or a checksum mismatch; ``dest`` is then untouched, and
    a folder this call created for it is removed again (no empty ``data/mnist/`` left behind).
    """
    dest = Path(dest)
    created = not dest.parent.exists()
    try:
        _fetch_into(url, dest, md5)
    except DatasetError:
        if created:
            with contextlib.suppress(OSError):  # only if still empty
                dest.parent.rmdir()
        raise


def _fetch_into(url, dest, md5):
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(
            f"Cannot create the folder {dest.parent} ({err.strerror}): choose a writable --data-dir."
        ) from err
    digest = hashlib.md5(usedforsecurity=False)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as part:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    part.write(chunk)
        except (OSError, http.client.HTTPException) as err:
            part.close()
            os.unlink(part.name)
            raise DatasetError(f"Could not download {url} ({err}).") from err
    if digest.hexdigest() != md5:
        os.unlink(part.name)
        raise DatasetError(f"{url} arrived with md5 {digest.hexdigest()}, expected {md5}.")
    os.replace(part.name, dest)


def _fetch_or_explain(url: str, dest: Path, md5: str, by_hand: str) -> None:
    try:
        fetch(url, dest, md5)
    except DatasetError as err:
        raise DatasetError(f"{err} {by_hand}") from err


def download_mnist(data_dir="data") -> Path:
    """Fetch the four MNIST files into ``<data_dir>/mnist/``, skipping those present.

    Returns the folder.
    """
    folder = Path(data_dir) / MNIST_DIR
    by_hand = f"Copy {', '.join(MNIST_FILES)} into {folder} by hand (see data/README.md)."
    for name, md5 in MNIST_MD5.items():
        if not ((folder / name).is_file() or (folder / name.removesuffix(".gz")).is_file()):
            _fetch_or_explain(MNIST_URL + name, folder / name, md5, by_hand)
    return folder


def download_cifar10(data_dir="data", fmt="python") -> Path:
    """Fetch and extract the CIFAR-10 tarball of format "python" or "binary".

    Nothing is fetched if ``<data_dir>/cifar-10-batches-py`` (or ``-bin``) or the tarball
    is already there. Returns the extracted folder.
    """
    if fmt not in CIFAR10_TARBALLS:
        raise DatasetError(f"Unknown CIFAR-10 format {fmt!r}; choose 'python' or 'binary'.")
    root = Path(data_dir)
    folder, tarball = root / CIFAR10_DIRS[fmt], root / CIFAR10_TARBALLS[fmt]
    if folder.is_dir():
        return folder
    if not tarball.is_file():
        by_hand = f"Copy {tarball.name} from {CIFAR10_URL} into {root} by hand (see data/README.md)."
        _fetch_or_explain(CIFAR10_URL + tarball.name, tarball, CIFAR10_MD5[fmt], by_hand)
    extract_tar(tarball, root)
    return folder


def extract_tar(path, dest) -> None:
    """Extract a (compressed) tar archive into ``dest`` after checking every member.

    Refuses the whole archive, before writing anything, if a member has an absolute path,
    a ``..`` component, or is a link or anything other than a file or a folder.
    """
    path = Path(path)
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                name = PurePosixPath(m.name)
                if name.is_absolute() or ".." in name.parts or not (m.isfile() or m.isdir()):
                    raise DatasetError(f"{path} holds an unsafe member {m.name!r}; nothing was extracted.")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DatasetError(
            f"{path} cannot be extracted ({err}): it is truncated or corrupt. Delete it and download it again."
        ) from err

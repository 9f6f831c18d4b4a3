"""Saved runs: ``weights.npz``, ``metrics.json`` and ``history.csv``, on disk or as the bytes of a .zip.

The CLI's ``--out`` writes them to a folder, the Playground offers them as downloads, and both read
back through the same checks: weights are read with ``allow_pickle=False`` and checked name by name
and shape by shape before anything is built from them, so a crafted file can neither run code nor
ask for terabytes. What a file declares (its list of files, their unpacked sizes, each array's
.npy header) is checked against the limits below and core's (``core.training.config``) before
anything is unpacked, read or built.
"""

import io
import json
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.nn.weights import NAME, WeightsError, check, widths
from core.training.config import MAX_HIDDEN_LAYERS, MAX_PARAMETERS, MAX_WIDTH

RUN_FILES = ("weights.npz", "metrics.json", "history.csv")
HISTORY_COLUMNS = ["epoch", "split", "metric", "value"]
# What a saved file may declare, checked before it is unpacked (a few hundred bytes can declare gigabytes).
MAX_UNPACKED_BYTES = 256 * 2**20  # a zip that unpacks to more is refused (zip bombs)
MAX_MEMBERS = 6 * (MAX_HIDDEN_LAYERS + 1)  # files in an .npz: W, b, gamma, beta and 2 running statistics per layer
MAX_LIST_BYTES = 2**16  # a zip's list of files; the largest network's takes about 8 kB
MAX_FILE_BYTES = {  # each file of a run's .zip, unpacked
    "weights.npz": 8 * MAX_PARAMETERS + 2**20,  # the largest network in float64, running statistics and headers
    "metrics.json": 2**20,  # a few hundred bytes
    "history.csv": 2**20,  # 4 rows per epoch: about 100 kB for the longest run
}
# A member that is corrupt, cut short, compressed in a way zipfile cannot read, or encrypted:
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


class RunFileError(ValueError):
    """A file is not a run this project saved; the message says what is wrong, in one line."""


@dataclass(frozen=True)
class LoadedRun:
    """A run read back: weights in the common dict form; metrics and history when the files had them."""

    weights: dict
    metrics: dict | None = None
    history: pd.DataFrame | None = None

    @property
    def widths(self):
        """[D, H_1, …, C] of the saved network."""
        return widths(self.weights)


# ---- a run → bytes and files ----


def weights_npz(weights):
    """``.npz`` bytes of weights in the common dict form (``np.savez``: arrays only, nothing pickled)."""
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()


def run_files(trainer, metrics=None):
    """{file name: bytes} of a run: the best-on-validation weights, the metrics that describe them
    (``trainer.test_metrics()`` unless given) and the per-epoch history.

    Safe to call while the run trains in another thread: it reads ``trainer.best`` (replaced, never
    changed in place) and evaluates on a model of its own.
    """
    best = trainer.best
    metrics = trainer.test_metrics(best) if metrics is None else metrics
    meta = {"dataset": trainer.data.name, "config": trainer.config.to_dict(), **metrics}
    return {
        "weights.npz": weights_npz(best["weights"]),
        "metrics.json": (json.dumps(meta, indent=2) + "\n").encode(),
        "history.csv": trainer.history().to_csv(index=False).encode(),
    }


def run_zip(trainer):
    """One ``.zip`` holding ``run_files(trainer)`` (``read_run`` loads it back)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file_name, content in run_files(trainer).items():
            zf.writestr(file_name, content)
    return buffer.getvalue()


def save_run(out_dir, trainer, metrics):
    """Write ``run_files(trainer, metrics)`` into the folder ``out_dir`` (created if needed); returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for file_name, content in run_files(trainer, metrics).items():
        (out / file_name).write_bytes(content)
    return out


# ---- bytes and files → a run, checked ----


def _open_zip(raw, what):
    """The zip archive in ``raw`` (a .npz is one too), refused when it lists or unpacks to too much.

    The list of files is measured in the end record before ``zipfile`` reads it (a 60 MB list of
    empty files would take seconds and hundreds of MB); then the files are counted and their sizes
    added up as the list declares them, which is also the most ``zipfile`` unpacks from each.
    """
    end = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 22 - 0xFFFF))  # the end record, before an optional comment
    zip64 = end >= 20 and raw[end - 20 : end - 16] == b"PK\x06\x07"  # its sizes are elsewhere; never a saved run
    if end < 0 or len(raw) - end < 22 or zip64:
        raise RunFileError(f"{what} is not a .zip or .npz file.")
    listed = struct.unpack_from("<I", raw, end + 12)[0]  # bytes of the list of files (the central directory)
    if listed > MAX_LIST_BYTES:
        raise RunFileError(
            f"{what}: its list of files takes {listed:,} bytes; a saved run's takes at most {MAX_LIST_BYTES:,}."
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except ZIP_ERRORS:
        raise RunFileError(f"{what} is not a .zip or .npz file.") from None
    if len(zf.infolist()) > MAX_MEMBERS:
        raise RunFileError(f"{what} holds {len(zf.infolist()):,} files; a saved run holds at most {MAX_MEMBERS}.")
    if sum(info.file_size for info in zf.infolist()) > MAX_UNPACKED_BYTES:
        raise RunFileError(f"{what} unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MB: refused.")
    return zf


def _npy_headers(zf, what):
    """{array name: (shape, dtype)} from the .npy header of every member, checked before any data is read.

    ``np.load`` allocates the declared shape before reading: a forged header could ask for terabytes.
    Refused here: other files or names, pickled objects, values that are not real numbers, a vector
    for a matrix, and a header that declares more data than its member holds.
    """
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise RunFileError(f"{what} is not an .npz of arrays: it holds {info.filename}.")
    names = [info.filename.removesuffix(".npy") for info in zf.infolist()]
    odd = sorted(name for name in names if not NAME.fullmatch(name))
    if odd or "W1" not in names:
        raise RunFileError(
            f"{what} is not a set of MLP weights: unexpected arrays {odd or 'none'}, expected W1, b1, … "
            "(and gamma1, beta1, running_mean1, running_var1 with batch norm)."
        )
    headers = {}
    for name, info in zip(names, zf.infolist()):
        try:
            with zf.open(info) as fp:
                shape, _, dtype = read_header[np.lib.format.read_magic(fp)](fp)
        except (KeyError, ValueError, *ZIP_ERRORS) as e:
            raise RunFileError(f"{what}: {info.filename} is not a NumPy array ({e}).") from None
        if dtype.hasobject:
            reason = "holds Python objects (pickled data), which are never loaded"  # allow_pickle=False says so too
            raise RunFileError(f"{what} cannot be read as weights: {name} {reason}.")
        if dtype.kind not in "iuf":
            raise RunFileError(f"{what}: {name} holds {dtype} values, not real numbers.")
        if len(shape) != (2 if name.startswith("W") else 1):
            kind = "matrix" if name.startswith("W") else "vector"
            raise RunFileError(f"{what}: {name} has shape {shape}, expected a {kind}.")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise RunFileError(f"{what}: {info.filename} declares more data than it holds.")
        headers[name] = shape, dtype
    return headers


def _check_size(headers, what):
    """Refuse a network beyond core's limits (``core.training.config``) from its headers alone."""
    hidden = sum(1 for name in headers if name.startswith("W")) - 1
    if hidden > MAX_HIDDEN_LAYERS:
        raise RunFileError(f"{what} describes {hidden:,} hidden layers; at most {MAX_HIDDEN_LAYERS} are loaded.")
    units = [shape[0] for shape, _ in headers.values()]  # every layer's width but the input's: H_l, C, and vectors
    if max(units) > MAX_WIDTH:
        raise RunFileError(f"{what} has a layer of {max(units):,} units; at most {MAX_WIDTH:,} are loaded.")
    n = sum(math.prod(shape) for name, (shape, _) in headers.items() if not name.startswith("running"))
    if n > MAX_PARAMETERS:
        raise RunFileError(f"{what} holds {n:,} parameters; at most {MAX_PARAMETERS:,} are loaded.")


def read_weights(raw, what="the file"):
    """Weights (the common dict form, float64) from ``.npz`` bytes, checked name by name and shape by shape.

    Refused with a ``RunFileError``, from the headers before any array is read: pickled objects, names
    other than W1, b1, gamma1, …, arrays that are not real numbers, more hidden layers, units or
    parameters than core trains (``core.training.config``); then values that are not finite, negative
    running variances, and shapes that do not chain into one MLP.
    """
    with _open_zip(raw, what) as zf:
        _check_size(_npy_headers(zf, what), what)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except ValueError as e:
        raise RunFileError(f"{what} cannot be read as weights: {e}.") from None
    except ZIP_ERRORS as e:
        raise RunFileError(f"{what} is not a valid .npz file ({e}).") from None
    weights = {}
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise RunFileError(f"{what}: {name} holds NaN or infinite values.")
        if name.startswith("running_var") and (a < 0).any():
            raise RunFileError(f"{what}: {name} holds negative variances.")
        weights[name] = a.astype(np.float64)
    try:
        check(weights)  # names complete, shapes chained
    except WeightsError as e:
        raise RunFileError(f"{what} does not describe one MLP: {e}.") from None
    return weights


def _member(zf, name, what):
    """The bytes of ``name`` in a run's .zip, refused unread when it declares more than such a file holds."""
    info = zf.getinfo(name)
    limit = MAX_FILE_BYTES[name]
    if info.file_size > limit:
        raise RunFileError(
            f"{what}: {name} unpacks to {info.file_size:,} bytes; a saved run's holds at most {limit:,}."
        )
    try:
        return zf.read(info)
    except ZIP_ERRORS as e:
        raise RunFileError(f"{what}: {name} cannot be unpacked ({e}).") from None


def _metrics_and_history(metrics_raw, history_raw, what):
    try:
        metrics = json.loads(metrics_raw)
        history = pd.read_csv(io.BytesIO(history_raw))
    except RecursionError:
        raise RunFileError(f"{what}: metrics.json is nested too deeply to be a run's metrics.") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise RunFileError(f"{what} has an unreadable metrics.json or history.csv ({e}).") from None
    if not isinstance(metrics, dict):
        raise RunFileError(f"{what}: metrics.json should hold an object of named values.")
    if list(history.columns) != HISTORY_COLUMNS:
        raise RunFileError(f"{what}: history.csv should have the columns {', '.join(HISTORY_COLUMNS)}.")
    return metrics, history


def read_run(file_name, raw):
    """A ``LoadedRun`` from the bytes of a saved run: the .zip of ``run_zip`` or a weights .npz alone.

    Raises ``RunFileError`` (a ValueError) with a one-line reason for anything else, before the
    memory a forged file asks for is allocated.
    """
    what = f"“{file_name}”"
    with _open_zip(raw, what) as zf:
        names = set(zf.namelist())
        if "weights.npz" not in names:
            if names and all(n.endswith(".npy") for n in names):  # an .npz is a zip of .npy files
                return LoadedRun(read_weights(raw, what))
            raise RunFileError(f"{what} is not a saved run: it should hold {', '.join(RUN_FILES)}.")
        missing = [n for n in RUN_FILES if n not in names]
        if missing:
            raise RunFileError(f"{what} is not a complete run: {', '.join(missing)} missing.")
        files = {name: _member(zf, name, what) for name in RUN_FILES}
    weights = read_weights(files["weights.npz"], f"{what} (weights.npz)")
    metrics, history = _metrics_and_history(files["metrics.json"], files["history.csv"], what)
    return LoadedRun(weights, metrics, history)


def load_run(run_dir):
    """(weights in the common dict form, metrics dict, history DataFrame) from a folder ``save_run`` wrote.

    Raises ``RunFileError`` (a ValueError) naming what is missing or wrong.
    """
    run = Path(run_dir)
    what = f"the run in {run}"
    try:
        raw = {name: (run / name).read_bytes() for name in RUN_FILES}
    except OSError as e:
        raise RunFileError(f"cannot load {what}: {e.strerror} ({e.filename}). Expected {', '.join(RUN_FILES)}.") from e
    weights = read_weights(raw["weights.npz"], f"{what} (weights.npz)")
    metrics, history = _metrics_and_history(raw["metrics.json"], raw["history.csv"], what)
    return weights, metrics, history

"""Users' own data: a CSV file of numeric features and one label column, as a ``Dataset``.

What a file must look like (stated once, checked by ``inspect_csv`` and ``load_csv``):

- **Encoding**: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); plain ASCII is
  UTF-8. Nothing else is guessed: Latin-1, Windows-1252 or UTF-16 text is refused with the line
  of the first undecodable byte, because a guessed encoding silently garbles class names.
- **Separator**: a comma. A semicolon or a tab is used instead when the first line holds more of
  them than commas (European Excel exports, TSV). Decimal commas are not read: use a dot.
- **Header**: the first line is a header when every cell in it is text, or when some column holds
  text there and a number on the second line. Otherwise there is no header and the columns are
  named col1, col2, … in order. Empty header cells are named the same way.
- **Cells**: features are numbers as ``1``, ``-2.5``, ``.5``, ``3e-4``; spaces and quotes around
  a cell are ignored. Empty cells and ``NA``, ``N/A``, ``null``, ``?`` are missing values; NaN and
  infinite values are refused too. Blank lines are skipped.
- **Labels**: one column (the last by default), text or numbers; each distinct value is a class.
  Class names are the values as text, sorted as numbers when all are numbers ("2" before "10"),
  else as text. Numeric labels that are equal as numbers ("1" and "1.0") are one class.

Lines in messages are counted as a person reads the file: the header is line 1. Limits are
checked before the data takes memory: the size of the bytes first, then the number of columns
from the first line, then the rows as they are read. Nothing is evaluated or unpickled: the text
goes through the ``csv`` module and ``float`` only.
"""

import csv
import io
import math
import os
import re
from array import array
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.splits import Dataset, DatasetError, assemble, fit_standardizer, held_out_size, stratified_split

MAX_BYTES = 5 * 1024 * 1024  # 5 MB (MiB, as Streamlit's upload limit counts): ~50,000 rows of 10 numbers
MAX_COLUMNS = 200  # features + label; the built-in digits have 64 features
MAX_ROWS = 50_000  # data rows, MNIST's training size; an epoch stays a few seconds on a laptop CPU
MAX_CLASSES = 50  # more usually means a numeric feature was picked as the label
MIN_ROWS = 10  # a 60/20/20 split then holds 6/2/2 samples
MIN_PER_CLASS = 2  # a class needs one training sample and one more to be held out
PREVIEW_ROWS = 5  # rows of ``CsvTable.preview``
HELD_OUT = 0.2  # validation and test fractions each, as the toy sets

SEPARATORS = (",", ";", "\t")  # comma first: it wins ties
MISSING = frozenset({"", "na", "n/a", "null", "?"})  # compared lower-cased, after stripping spaces
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # linear: no nested repeats
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not in text files (tab, LF, CR are)
_MAGIC = {  # first bytes of files people upload by mistake
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook is one: save it as CSV)",
    b"\x1f\x8b": "gzip-compressed (decompress it first)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook (save it as CSV)",
    b"\x80\x04": "a Python pickle",
    b"\x80\x05": "a Python pickle",
    b"\xff\xfe": "UTF-16 text (save it as UTF-8)",
    b"\xfe\xff": "UTF-16 text (save it as UTF-8)",
    b"\x93NUMPY": "a NumPy .npy file",
}


@dataclass(frozen=True, eq=False)
class CsvTable:
    """What a UI shows before the label column is chosen.

    ``preview`` is a DataFrame of the first ``PREVIEW_ROWS`` data rows: a column is numeric when
    all its preview cells are numbers, else text as in the file.
    """

    columns: list[str]  # D + 1 names, from the header or col1, col2, …
    n_rows: int  # data rows (without the header and blank lines)
    has_header: bool  # whether the first line is a header
    separator: str  # ",", ";" or "\t"
    preview: pd.DataFrame  # (PREVIEW_ROWS, D + 1)


def inspect_csv(source) -> CsvTable:
    """Read a CSV's structure: column names, number of rows, a preview.

    Checks everything that does not depend on the label column (size, encoding, separator,
    columns, rows of equal length, the row limits); ``load_csv`` checks the cells and classes.

    Args:
        source: a path (str or os.PathLike), bytes, or a binary file object (``.read()``).

    Raises DatasetError with a one-line message naming the problem and its line or column.
    """
    table = _Table(_text(source))
    head, n_rows = [], 0
    for _, cells in table.rows():
        n_rows += 1
        if len(head) < PREVIEW_ROWS:
            head.append([c.strip() for c in cells])
    _check_n_rows(table, n_rows)
    columns = list(zip(*head))  # per column, the preview cells
    preview = pd.DataFrame(
        {
            name: [float(v) for v in col] if all(_NUMBER.fullmatch(v) for v in col) else list(col)
            for name, col in zip(table.columns, columns)
        }
    )
    return CsvTable(table.columns, n_rows, table.has_header, table.separator, preview)


def load_csv(source, label_column=None, *, seed=0, name="csv") -> Dataset:
    """Read a CSV of numeric features and one label column into a split, standardized Dataset.

    As the toy sets: a stratified 60/20/20 train/validation/test split (held-out sizes rounded
    up), then per-feature standardization with training statistics only,
    ``X = (raw − mean_train) / std_train`` (``raw_scale`` 1, std < 1e-8 counts as 1).

    Args:
        source: a path (str or os.PathLike), bytes, or a binary file object (``.read()``).
        label_column: the label's column name, or its position (0-based, negative from the end);
            None for the last column. Every other column is a feature.
        seed: seed of the split; the same file and seed give the same Dataset.
        name: the Dataset's name.

    Shape:
        X_* (N_*, D) float64 with D = columns − 1; y_* (N_*,) int64 in 0..K−1, index into
        ``class_names``; mean, std (D,).

    Raises DatasetError with a one-line message naming the problem and its line or column.
    """
    table = _Table(_text(source))
    j_label = _label_index(table.columns, label_column)
    label_name = table.columns[j_label]
    D = len(table.columns) - 1
    features = array("d")  # (N * D,) row-major, grows without a copy per row
    labels, label_lines = [], []  # (N,) text and line number
    for line, cells in table.rows():
        label = cells.pop(j_label).strip()
        for j, cell in enumerate(cells):
            features.append(_number(cell, line, table.columns[j + (j >= j_label)]))
        _check_label(label, line, label_name)
        labels.append(label)
        label_lines.append(line)
    _check_n_rows(table, len(labels))
    X = np.frombuffer(features, dtype=np.float64).reshape(len(labels), D)  # (N, D)
    y, class_names = _encode(labels, label_lines, label_name)  # (N,), K names
    n_held = held_out_size(len(y), HELD_OUT)
    train, val, test = stratified_split(y, n_held, n_held, seed=seed)
    mean, std = fit_standardizer(X[train])  # (D,), (D,): training statistics only
    return assemble(name, [(X[idx], y[idx]) for idx in (train, val, test)], class_names, None, 1.0, mean, std)


# ---------------------------------------------------------------- reading the text


def _text(source) -> str:
    """The file's text: size limit first, then not-a-text-file checks, then strict UTF-8."""
    blob = _bytes(source)
    for magic, kind in _MAGIC.items():
        if blob.startswith(magic):
            raise DatasetError(f"This is not a CSV file: it looks like {kind}.")
    if b"\x00" in blob:
        line = blob.count(b"\n", 0, blob.index(b"\x00")) + 1
        raise DatasetError(f"This is not a CSV file: it holds binary data (a NUL byte on line {line}).")
    try:
        text = blob.decode("utf-8-sig")  # drops a byte-order mark
    except UnicodeDecodeError as e:
        line = blob.count(b"\n", 0, e.start) + 1
        raise DatasetError(
            f"The file is not UTF-8 text (byte 0x{blob[e.start]:02X} on line {line}): "
            'save it as UTF-8 ("CSV UTF-8" in Excel).'
        ) from None
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise DatasetError(
            f"This is not a CSV file: it holds binary data (control character {bad.group()!r} on line {line})."
        )
    return text


def _bytes(source) -> bytes:
    """Read at most MAX_BYTES + 1 bytes; refuse more before reading them where the size is known."""
    if isinstance(source, bytes | bytearray | memoryview):
        blob = bytes(source)
    elif isinstance(source, str | os.PathLike):
        if not os.path.isfile(source):
            raise DatasetError(f"No file at {os.fspath(source)!r}.")
        _check_size(os.path.getsize(source))
        with open(source, "rb") as f:
            blob = f.read(MAX_BYTES + 1)
    elif hasattr(source, "read"):
        blob = source.read(MAX_BYTES + 1)
        if not isinstance(blob, bytes | bytearray):
            raise DatasetError("Open the file in binary mode ('rb'): its bytes are decoded here, as UTF-8.")
        blob = bytes(blob)
    else:
        raise DatasetError(f"A CSV source is a path, bytes or a binary file object, not {type(source).__name__}.")
    _check_size(len(blob))
    return blob


def _check_size(n_bytes):
    if n_bytes > MAX_BYTES:
        shown = f"{n_bytes / 2**20:.1f} MB" if n_bytes <= 100 * MAX_BYTES else "far more"
        raise DatasetError(f"The file is larger than {MAX_BYTES // 2**20} MB ({shown}); use fewer rows or columns.")


class _Table:
    """The separator, the header and the rows of a CSV text, read lazily with the ``csv`` module."""

    def __init__(self, text):
        first = next((line for line in io.StringIO(text) if line.strip()), "")  # the first non-blank line
        counts = [first.count(s) for s in SEPARATORS]
        self.separator = SEPARATORS[counts.index(max(counts))]
        self._reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=self.separator, skipinitialspace=True, strict=True
        )
        self._ahead = []  # rows read to detect the header, given back by rows()
        row1 = self._next()
        if row1 is None:
            raise DatasetError("The file is empty.")
        self.first_line = row1[0]
        if len(row1[1]) > MAX_COLUMNS:
            raise DatasetError(f"Line {row1[0]} has {len(row1[1]):,} columns; at most {MAX_COLUMNS} are allowed.")
        if len(row1[1]) < 2:
            raise DatasetError(
                f"Line {row1[0]} has one column; a CSV needs at least one feature and a label, "
                "separated by commas (or semicolons or tabs)."
            )
        row2 = self._next()
        self.has_header = _is_header(row1[1], row2[1] if row2 else None)
        self._ahead = [r for r in (row1, row2) if r is not None][1 if self.has_header else 0 :]
        names = [c.strip() for c in row1[1]] if self.has_header else [""] * len(row1[1])
        self.columns = [n or f"col{j + 1}" for j, n in enumerate(names)]
        for j, n in enumerate(self.columns):
            if n in self.columns[:j]:
                raise DatasetError(
                    f"Column name {_short(n)} appears twice in the header (columns "
                    f"{self.columns.index(n) + 1} and {j + 1}); rename one."
                )

    def _next(self):
        """(line, cells) of the next non-blank row, or None at the end."""
        try:
            for cells in self._reader:
                if cells and (len(cells) > 1 or cells[0].strip()):  # blank lines are skipped
                    return self._reader.line_num, cells
        except csv.Error as e:
            raise DatasetError(f"Line {self._reader.line_num} is not valid CSV: {e}.") from None
        return None

    def rows(self):
        """Yield (line, cells) of each data row, checking its length and the row limit as it goes."""
        n_rows = 0
        while (row := self._ahead.pop(0) if self._ahead else self._next()) is not None:
            line, cells = row
            n_rows += 1
            if n_rows > MAX_ROWS:
                raise DatasetError(f"The file has more than {MAX_ROWS:,} data rows (line {line}); use fewer.")
            if len(cells) != len(self.columns):
                raise DatasetError(
                    f"Line {line} has {len(cells)} cells but line {self.first_line} has {len(self.columns)}: "
                    "every row needs one value per column."
                )
            yield line, cells


def _is_header(row1, row2):
    """Line 1 is a header if all its cells are text, or a column is text there and a number on line 2."""
    text1 = [not _NUMBER.fullmatch(c.strip()) for c in row1]
    if all(text1) or row2 is None:
        return any(text1)
    return any(t and j < len(row2) and _NUMBER.fullmatch(row2[j].strip()) for j, t in enumerate(text1))


def _check_n_rows(table, n_rows):
    if n_rows == 0:
        raise DatasetError(f"The file has a header (line {table.first_line}) but no data rows.")
    if n_rows < MIN_ROWS:
        raise DatasetError(f"The file has {n_rows} data rows; at least {MIN_ROWS} are needed.")


# ---------------------------------------------------------------- cells and labels


def _number(cell, line, column):
    """A feature cell as a finite float, or DatasetError naming the line, the column and the value."""
    s = cell.strip()
    if _NUMBER.fullmatch(s):
        x = float(s)
        if math.isfinite(x):
            return x
        raise DatasetError(f"Line {line}, column {_short(column)}: {_short(s)} is too large (infinite).")
    where = f"Line {line}, column {_short(column)}"
    if s.lower() in MISSING:
        raise DatasetError(f"{where}: missing value ({_short(cell)}); fill it in or drop the row.")
    if _is_nonfinite(s):
        raise DatasetError(f"{where}: {_short(s)} is not a finite number (NaN or infinite).")
    hint = " (decimal commas are not read: use a dot)" if _DECIMAL_COMMA.fullmatch(s) else ""
    raise DatasetError(f"{where}: {_short(s)} is not a number{hint}.")


def _check_label(label, line, column):
    where = f"Line {line}, label column {_short(column)}"
    if label.lower() in MISSING:
        raise DatasetError(f"{where}: missing value ({_short(label)}); every row needs a label.")
    if _is_nonfinite(label):
        raise DatasetError(f"{where}: {_short(label)} is not a finite value (NaN or infinite).")


def _is_nonfinite(s):
    try:
        return not math.isfinite(float(s))
    except ValueError:
        return False


def _encode(labels, lines, column):
    """Labels (N,) text → y (N,) int64 codes and K sorted class names; checks the class counts."""
    numeric = all(_NUMBER.fullmatch(v) for v in labels)
    values = [float(v) for v in labels] if numeric else labels
    classes = sorted(set(values))
    if len(classes) > MAX_CLASSES:
        raise DatasetError(
            f"Label column {_short(column)} has {len(classes):,} distinct values; at most {MAX_CLASSES} classes "
            "are allowed (is it the label column?)."
        )
    if len(classes) < 2:
        raise DatasetError(
            f"Label column {_short(column)} holds a single class ({_short(labels[0])}); a classifier needs two or more."
        )
    code = {v: k for k, v in enumerate(classes)}
    y = np.fromiter((code[v] for v in values), dtype=np.int64, count=len(values))  # (N,)
    counts = np.bincount(y, minlength=len(classes))  # (K,)
    names = [_class_name(v) for v in classes]
    rare = np.flatnonzero(counts < MIN_PER_CLASS)  # classes too small to split
    if len(rare):
        k = int(rare[0])
        line = lines[int(np.argmax(y == k))]  # its first row
        raise DatasetError(
            f"Class {_short(names[k])} of column {_short(column)} has {counts[k]} "
            f"sample{'' if counts[k] == 1 else 's'} "
            f"(line {line}); every class needs at least {MIN_PER_CLASS}."
        )
    return y, names


def _class_name(v):
    """A class as text: numbers without a needless ".0" (1.0 → "1"), text as it is."""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return v


def _label_index(columns, label_column):
    """The position of the label column, from its name, its position (0-based) or None (the last)."""
    if label_column is None:
        return len(columns) - 1
    if isinstance(label_column, int | np.integer) and not isinstance(label_column, bool):
        if -len(columns) <= label_column < len(columns):
            return int(label_column) % len(columns)
    elif label_column in columns:
        return columns.index(label_column)
    shown = ", ".join(_short(c) for c in columns[:8]) + (", …" if len(columns) > 8 else "")
    raise DatasetError(f"No label column {_short(label_column)} in the file; its columns are {shown}.")


def _short(value, limit=24):
    """A value quoted for a one-line message, cut after ``limit`` characters."""
    s = str(value)
    return repr(s if len(s) <= limit else s[:limit] + "…")

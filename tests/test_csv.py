"""Users' own CSV files: the Dataset they give, and every refusal with its one-line message."""

import io
import re

import numpy as np
import pytest

from core.data.csv import (
    MAX_BYTES,
    MAX_CLASSES,
    MAX_COLUMNS,
    MAX_ROWS,
    MIN_ROWS,
    PREVIEW_ROWS,
    inspect_csv,
    load_csv,
)
from core.data.splits import DatasetError


def make_csv(n=20, D=2, labels=None, header=True, sep=",", seed=0):
    """A CSV text of n rows, D numeric features x1..xD and a label column (classes 0/1 alternating)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(5.0, 2.0, size=(n, D)).round(3)  # (n, D)
    labels = labels if labels is not None else [str(i % 2) for i in range(n)]
    lines = [sep.join([f"x{j + 1}" for j in range(D)] + ["label"])] if header else []
    lines += [sep.join([*map(repr, row), lab]) for row, lab in zip(X.tolist(), labels)]
    return "\n".join(lines) + "\n", X


def refused(text_or_bytes, match, **kwargs):
    """Load bad input; assert it is refused with a one-line message matching ``match``; return the message."""
    blob = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    with pytest.raises(DatasetError, match=match) as err:
        load_csv(blob, **kwargs)
    message = str(err.value)
    assert "\n" not in message and len(message) < 200, message
    return message


def all_raw_rows(data):
    """Every sample of the Dataset back in the file's units, (N, D), sorted by rows."""
    raw = np.concatenate([data.to_raw(X) for X in (data.X_train, data.X_val, data.X_test)])
    return raw[np.lexsort(raw.T[::-1])]


def sorted_rows(X):
    return X[np.lexsort(X.T[::-1])]


# ---------------------------------------------------------------- happy paths


def test_numeric_labels_give_a_split_standardized_dataset():
    text, X = make_csv(n=50, D=3)
    data = load_csv(text.encode())
    assert data.name == "csv" and data.image_shape is None and data.raw_scale == 1.0
    assert data.class_names == ["0", "1"] and data.n_classes == 2 and data.n_features == 3
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (30, 10, 10)  # 60/20/20
    for y in (data.y_train, data.y_val, data.y_test):
        assert y.dtype == np.int64 and abs(np.mean(y) - 0.5) <= 0.1  # stratified: both classes in proportion
    assert data.X_train.dtype == np.float64 and data.X_train.shape == (30, 3)
    np.testing.assert_allclose(all_raw_rows(data), sorted_rows(X), atol=1e-12)  # no row lost or changed


def test_string_labels_are_sorted_and_coded_in_order():
    labels = ["versicolor", "setosa", "virginica"] * 5
    text, X = make_csv(n=15, labels=labels)
    data = load_csv(text.encode())
    assert data.class_names == ["setosa", "versicolor", "virginica"]
    raw = np.concatenate([data.to_raw(A) for A in (data.X_train, data.X_val, data.X_test)])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    for row, k in zip(raw, y):  # each sample keeps its own label
        i = int(np.argmin(np.abs(X - row).sum(axis=1)))
        assert data.class_names[k] == labels[i]


def test_numeric_labels_sort_as_numbers_and_equal_numbers_are_one_class():
    labels = ["10", "2", "2.0", "10", "-1", "-1.0"] * 2
    data = load_csv(make_csv(n=12, labels=labels)[0].encode())
    assert data.class_names == ["-1", "2", "10"]  # "2" before "10"; "2.0" is class "2"
    assert np.bincount(np.concatenate([data.y_train, data.y_val, data.y_test])).tolist() == [4, 4, 4]


def test_label_column_in_the_middle_by_name_or_position():
    rows = ["a,kind,b"] + [f"{i},{'cat' if i % 2 else 'dog'},{10 * i}" for i in range(20)]
    blob = "\n".join(rows).encode()
    by_name, by_pos, by_neg = load_csv(blob, "kind"), load_csv(blob, 1), load_csv(blob, -2)
    assert by_name.class_names == ["cat", "dog"] and by_name.n_features == 2
    raw = all_raw_rows(by_name)
    np.testing.assert_allclose(raw, [[i, 10 * i] for i in range(20)], atol=1e-9)  # a and b, not the label
    for other in (by_pos, by_neg):
        np.testing.assert_array_equal(other.X_train, by_name.X_train)
        np.testing.assert_array_equal(other.y_train, by_name.y_train)


def test_a_two_feature_file_is_like_a_toy_set():
    data = load_csv(make_csv(n=40, D=2)[0].encode())
    assert data.n_features == 2 and data.image_shape is None
    assert data.summary() == "csv: 24 train / 8 val / 8 test, 2 features, 2 classes"


def test_bytes_path_and_file_object_give_the_same_dataset(tmp_path):
    text, _ = make_csv(n=30, D=3)
    path = tmp_path / "mine.csv"
    path.write_bytes(text.encode())
    sets = [load_csv(text.encode()), load_csv(path), load_csv(str(path)), load_csv(io.BytesIO(text.encode()))]
    with open(path, "rb") as f:
        sets.append(load_csv(f))
    sets.append(load_csv(bytearray(text.encode())))
    for other in sets[1:]:
        for field in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "mean", "std"):
            np.testing.assert_array_equal(getattr(other, field), getattr(sets[0], field))
        assert other.class_names == sets[0].class_names


def test_standardization_uses_training_statistics_only():
    text, X = make_csv(n=50, D=2)
    data = load_csv(text.encode())
    train_raw = data.to_raw(data.X_train)  # (30, 2) in the file's units
    np.testing.assert_allclose(data.mean, train_raw.mean(axis=0))
    np.testing.assert_allclose(data.std, train_raw.std(axis=0))
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1.0)
    assert not np.allclose(data.mean, X.mean(axis=0))  # not the statistics of the whole file
    # Moving one held-out sample far away leaves the standardization alone.
    held = data.to_raw(data.X_test[:1])[0]
    i = int(np.argmin(np.abs(X - held).sum(axis=1)))
    lines = text.splitlines()
    lines[i + 1] = f"1000.0,-1000.0,{lines[i + 1].rsplit(',', 1)[1]}"
    moved = load_csv("\n".join(lines).encode())
    np.testing.assert_array_equal(moved.mean, data.mean)
    np.testing.assert_array_equal(moved.std, data.std)


def test_a_constant_feature_is_kept_at_zero():
    rows = ["a,b,y"] + [f"{i},7,{i % 2}" for i in range(10)]
    data = load_csv("\n".join(rows).encode())
    assert data.std[1] == 1.0 and np.all(data.X_train[:, 1] == 0.0)


def test_the_seed_picks_the_split():
    blob = make_csv(n=40)[0].encode()
    a, b, c = load_csv(blob, seed=1), load_csv(blob, seed=1), load_csv(blob, seed=2)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(np.sort(a.X_test[:, 0]), np.sort(c.X_test[:, 0]))


def test_headerless_file_names_columns_col1_on():
    text, X = make_csv(n=12, header=False)
    table = inspect_csv(text.encode())
    assert not table.has_header and table.columns == ["col1", "col2", "col3"] and table.n_rows == 12
    data = load_csv(text.encode(), "col3")
    np.testing.assert_allclose(all_raw_rows(data), sorted_rows(X), atol=1e-12)  # line 1 is data


def test_headerless_file_with_text_labels_keeps_its_first_row():
    text, _ = make_csv(n=12, header=False, labels=["cat", "dog"] * 6)
    assert inspect_csv(text.encode()).n_rows == 12
    assert load_csv(text.encode()).class_names == ["cat", "dog"]


def test_header_with_numeric_names_is_still_a_header():
    rows = ["0,1,label"] + [f"{i},{i * i},{i % 2}" for i in range(10)]
    table = inspect_csv("\n".join(rows).encode())
    assert table.has_header and table.columns == ["0", "1", "label"] and table.n_rows == 10


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separators_are_detected(sep):
    text, X = make_csv(n=12, sep=sep)
    table = inspect_csv(text.encode())
    assert table.separator == sep and table.columns == ["x1", "x2", "label"]
    np.testing.assert_allclose(all_raw_rows(load_csv(text.encode())), sorted_rows(X), atol=1e-12)


def test_bom_crlf_quotes_spaces_and_blank_lines_are_accepted():
    text, X = make_csv(n=12)
    lines = text.splitlines()
    lines[3] = ", ".join(f'"{c}"' for c in lines[3].split(","))  # quoted cells with spaces
    blob = b"\xef\xbb\xbf" + ("\r\n".join(lines[:5]) + "\r\n\r\n" + "\r\n".join(lines[5:]) + "\r\n").encode()
    table = inspect_csv(blob)
    assert table.columns == ["x1", "x2", "label"] and table.n_rows == 12
    np.testing.assert_allclose(all_raw_rows(load_csv(blob)), sorted_rows(X), atol=1e-12)
    bad = blob.replace(b"\r\n" + lines[9].encode(), b"\r\n" + lines[9].replace(",", ",oops", 1).encode())
    refused(bad, r"^Line 11, column 'x2': 'oops")  # the blank line counts: the 10th row is on line 11


def test_inspect_gives_columns_rows_and_a_typed_preview():
    text, X = make_csv(n=12, labels=["b", "a"] * 6)
    table = inspect_csv(text.encode())
    assert table.columns == ["x1", "x2", "label"] and table.n_rows == 12 and table.has_header
    assert table.separator == ","
    assert list(table.preview.columns) == ["x1", "x2", "label"] and len(table.preview) == PREVIEW_ROWS
    np.testing.assert_allclose(table.preview[["x1", "x2"]].to_numpy(), X[:PREVIEW_ROWS])
    assert table.preview["x1"].dtype == np.float64 and table.preview["label"].tolist() == ["b", "a", "b", "a", "b"]


# ---------------------------------------------------------------- limits: exactly at the limit passes


def test_exactly_max_columns_passes_and_one_more_is_refused():
    rows = [",".join(str((i * 7 + j) % 5) for j in range(MAX_COLUMNS - 1)) + f",{i % 2}" for i in range(MIN_ROWS)]
    assert load_csv("\n".join(rows).encode()).n_features == MAX_COLUMNS - 1
    wider = ["0," + r for r in rows]
    refused("\n".join(wider), rf"^Line 1 has {MAX_COLUMNS + 1} columns; at most {MAX_COLUMNS} are allowed\.$")


def test_exactly_max_rows_passes_and_one_more_is_refused():
    rows = ["x,y"] + [f"{i % 7},{i % 2}" for i in range(MAX_ROWS)]
    blob = "\n".join(rows).encode()
    assert inspect_csv(blob).n_rows == MAX_ROWS
    data = load_csv(blob)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == MAX_ROWS
    more = blob + b"\n1,0"
    msg = refused(more, rf"^The file has more than {MAX_ROWS:,} data rows \(line {MAX_ROWS + 2}\)")
    with pytest.raises(DatasetError, match=re.escape(msg)):
        inspect_csv(more)


def test_exactly_max_bytes_passes_and_one_more_is_refused(tmp_path):
    text, _ = make_csv(n=12)
    blob = text.encode() + b"\n" * (MAX_BYTES - len(text.encode()))  # blank lines pad it
    assert len(blob) == MAX_BYTES and load_csv(blob).n_classes == 2
    big = blob + b"\n"
    refused(big, r"^The file is larger than 5 MB \(5\.0 MB\); use fewer rows or columns\.$")
    with pytest.raises(DatasetError, match="larger than 5 MB"):
        load_csv(io.BytesIO(big))
    path = tmp_path / "big.csv"
    with open(path, "wb") as f:  # sparse: refused from its size, before it is read
        f.truncate(100 * MAX_BYTES)
    with pytest.raises(DatasetError, match=r"^The file is larger than 5 MB \(500\.0 MB\)"):
        load_csv(path)


def test_exactly_max_classes_passes_and_one_more_is_refused():
    labels = [f"c{k:02d}" for k in range(MAX_CLASSES)] * 2
    assert load_csv(make_csv(n=len(labels), labels=labels)[0].encode()).n_classes == MAX_CLASSES
    labels = [f"c{k:02d}" for k in range(MAX_CLASSES + 1)] * 2
    refused(
        make_csv(n=len(labels), labels=labels)[0],
        rf"^Label column 'label' has {MAX_CLASSES + 1} distinct values; at most {MAX_CLASSES} classes are allowed",
    )


def test_min_rows_passes_and_one_fewer_is_refused():
    assert load_csv(make_csv(n=MIN_ROWS)[0].encode()).n_classes == 2
    refused(make_csv(n=MIN_ROWS - 1)[0], rf"^The file has {MIN_ROWS - 1} data rows; at least {MIN_ROWS} are needed\.$")


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("blob", [b"", b"\n\r\n  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_empty_file(blob):
    refused(blob, r"^The file is empty\.$")
    with pytest.raises(DatasetError, match="empty"):
        inspect_csv(blob)


def test_header_without_rows():
    refused("x1,x2,label\n\n", r"^The file has a header \(line 1\) but no data rows\.$")
    with pytest.raises(DatasetError, match="no data rows"):
        inspect_csv(b"x1,x2,label\n")


def test_non_numeric_cell_names_line_column_and_shortened_value():
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[5] = "hello there this is a very long sentence," + lines[5].split(",", 1)[1]
    msg = refused("\n".join(lines), r"^Line 6, column 'x1': 'hello there this is a ve…' is not a number\.$")
    assert "sentence" not in msg


def test_decimal_comma_gets_a_hint():
    rows = ["a;b;y"] + [f"{i},5;{i};{i % 2}" for i in range(12)]
    refused("\n".join(rows), r"^Line 2, column 'a': '0,5' is not a number \(decimal commas are not read: use a dot\)")


@pytest.mark.parametrize("cell", ["", "NA", "n/a", "null", "?", "  "])
def test_missing_feature_value(cell):
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[4] = lines[4].split(",", 1)[0] + f",{cell}," + lines[4].rsplit(",", 1)[1]
    refused("\n".join(lines), r"^Line 5, column 'x2': missing value \(.*\); fill it in or drop the row\.$")


@pytest.mark.parametrize("cell", ["", "NA", "?"])
def test_missing_label(cell):
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[7] = lines[7].rsplit(",", 1)[0] + f",{cell}"
    refused("\n".join(lines), r"^Line 8, label column 'label': missing value .*every row needs a label\.$")


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-Infinity"])
def test_nan_or_infinite_feature(cell):
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[3] = f"{cell}," + lines[3].split(",", 1)[1]
    refused("\n".join(lines), rf"^Line 4, column 'x1': '{cell}' is not a finite number \(NaN or infinite\)\.$")


def test_overflowing_number_is_infinite():
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[2] = "1e999," + lines[2].split(",", 1)[1]
    refused("\n".join(lines), r"^Line 3, column 'x1': '1e999' is too large \(infinite\)\.$")


@pytest.mark.parametrize("cell", ["nan", "inf"])
def test_nan_or_infinite_label(cell):
    labels = ["0", "1"] * 6
    labels[4] = cell
    refused(make_csv(n=12, labels=labels)[0], rf"^Line 6, label column 'label': '{cell}' is not a finite value")


def test_rows_of_different_lengths():
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[9] += ",3.5"
    msg = r"^Line 10 has 4 cells but line 1 has 3: every row needs one value per column\.$"
    refused("\n".join(lines), msg)
    with pytest.raises(DatasetError, match=msg):
        inspect_csv("\n".join(lines).encode())
    lines[9] = "1.0,0"
    refused("\n".join(lines), r"^Line 10 has 2 cells but line 1 has 3")


def test_a_single_class():
    refused(make_csv(n=12, labels=["cat"] * 12)[0], r"^Label column 'label' holds a single class \('cat'\)")


def test_a_class_with_a_single_sample_names_its_line():
    labels = ["a", "b"] * 6
    labels[7] = "c"
    refused(
        make_csv(n=12, labels=labels)[0],
        r"^Class 'c' of column 'label' has 1 sample \(line 9\); every class needs at least 2\.$",
    )


def test_latin1_text_is_not_utf8():
    text, _ = make_csv(n=12, labels=["café", "thé"] * 6)
    assert load_csv(text.encode("utf-8")).class_names == ["café", "thé"]
    refused(text.encode("latin-1"), r"^The file is not UTF-8 text \(byte 0xE9 on line 2\): save it as UTF-8")


@pytest.mark.parametrize(
    "blob, kind",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"PK\x03\x04\x14\x00\x00\x00", r"a zip archive \(an Excel \.xlsx workbook"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed"),
        (b"\x80\x04\x95\x10\x00", "a Python pickle"),
        ("x,y\n1,2\n".encode("utf-16"), "UTF-16 text"),
    ],
)
def test_binary_files_are_named(blob, kind):
    refused(blob, rf"^This is not a CSV file: it looks like {kind}")


def test_nul_bytes_and_control_characters_are_binary():
    text, _ = make_csv(n=12)
    blob = text.encode()
    cut = blob.index(b"\n", blob.index(b"\n") + 1) + 1  # start of line 3
    refused(
        blob[:cut] + b"\x00\x01" + blob[cut:], r"^This is not a CSV file: it holds binary data \(a NUL byte on line 3\)"
    )
    refused(blob[:cut] + b"\x07" + blob[cut:], r"holds binary data \(control character '\\x07' on line 3\)")


@pytest.mark.parametrize("label", ["species", 3, -4])
def test_label_column_that_does_not_exist(label):
    text, _ = make_csv(n=12)
    refused(
        text, rf"^No label column '{label}' in the file; its columns are 'x1', 'x2', 'label'\.$", label_column=label
    )


def test_a_single_column_is_not_enough():
    refused("\n".join(["y"] + ["1", "0"] * 6), r"^Line 1 has one column; a CSV needs at least one feature and a label")


def test_duplicate_column_names():
    rows = ["a,b,a,y"] + [f"{i},{i},{i},{i % 2}" for i in range(12)]
    refused("\n".join(rows), r"^Column name 'a' appears twice in the header \(columns 1 and 3\); rename one\.$")


def test_unclosed_quote_is_not_valid_csv():
    text, _ = make_csv(n=12)
    lines = text.splitlines()
    lines[11] = '"' + lines[11]
    refused("\n".join(lines), r"^Line 1[23] is not valid CSV: unexpected end of data\.$")


def test_bad_sources(tmp_path):
    with pytest.raises(DatasetError, match=r"^No file at '.*nothere\.csv'\.$"):
        load_csv(tmp_path / "nothere.csv")
    with pytest.raises(DatasetError, match=r"^A CSV source is a path, bytes or a binary file object, not int\.$"):
        load_csv(42)
    with pytest.raises(DatasetError, match=r"^Open the file in binary mode"):
        load_csv(io.StringIO("x,y\n1,2\n"))

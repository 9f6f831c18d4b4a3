"""The sidebar control for "Your own CSV": upload, preview, label column, classes → this session's Dataset.

The Dataset lives in ``st.session_state`` only (never in a shared cache: another student must
never see it): ``csv_dataset`` holds it and ``csv_key`` names it (content hash and label column),
so a page can key its trainers by it. A refused file leaves both as they were.
"""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from app.text import plain
from core.data.csv import (
    MAX_BYTES,
    MAX_CLASSES,
    MAX_COLUMNS,
    MAX_ROWS,
    MIN_PER_CLASS,
    MIN_ROWS,
    inspect_csv,
    load_csv,
)
from core.data.splits import DatasetError

UPLOAD_HELP = (
    "Numeric feature columns and one label column (numbers or text, the last column unless you pick another). "
    "UTF-8 text, separated by commas, semicolons or tabs, with or without a header row. "
    f"Up to {MAX_BYTES // 2**20} MB, {MAX_COLUMNS} columns, {MAX_ROWS:,} rows and {MAX_CLASSES} classes; "
    f"at least {MIN_ROWS} rows and {MIN_PER_CLASS} per class. "
    "It stays in your browser session: nobody else sees it."
)
SPLIT_SEED = 0  # one fixed split per file: runs with different seeds share a test set


def csv_dataset_control(container):
    """Render the CSV upload in ``container`` (the sidebar) and return this session's CSV Dataset.

    Shows the first rows, a select of the label column (default the last), the classes and
    their counts. A file or label column that is refused shows the one-line reason and keeps
    the previous Dataset. Returns the Dataset, or None when no file has been accepted yet.
    """
    previous = st.session_state.get("csv_dataset")
    upload = container.file_uploader(
        "Your CSV file",
        type=["csv", "tsv", "txt"],
        key="w_csv_file",
        help=UPLOAD_HELP,
        max_upload_size=MAX_BYTES // 2**20,
    )
    if upload is None:
        if previous is not None:
            name = plain(st.session_state.get("csv_file_name", "your file"))
            container.caption(f"Using {name}: {previous.summary()}.")
        else:
            container.info("Upload a CSV file: numeric features and a label column.", icon=":material/upload_file:")
        return previous

    upload.seek(0)
    blob = upload.read(MAX_BYTES + 1)  # one byte more than allowed, so that a larger file is refused
    digest = hashlib.sha256(blob).hexdigest()[:16]
    table, error = _once("table", digest, lambda: inspect_csv(blob))
    if error:
        return _refuse(container, error, previous)
    header = "a header row" if table.has_header else "no header (columns named col1, col2, …)"
    container.caption(f"**{plain(upload.name)}**: {table.n_rows:,} rows × {len(table.columns)} columns, {header}.")
    container.dataframe(table.preview, hide_index=True)

    label = st.session_state.get("w_csv_label")
    st.session_state["w_csv_label"] = label if label in table.columns else table.columns[-1]  # kept across pages
    label = container.selectbox(
        "Label column",
        table.columns,
        key="w_csv_label",
        help="The column that holds the classes; every other column is a feature.",
    )
    data, error = _once("data", (digest, label), lambda: load_csv(blob, label, seed=SPLIT_SEED))
    if error:
        return _refuse(container, error, previous)

    st.session_state["csv_dataset"] = data
    st.session_state["csv_key"] = f"{digest}:{label}"
    st.session_state["csv_file_name"] = upload.name
    container.dataframe(class_counts(data), hide_index=True)
    container.caption(
        data.summary() + ("; the Playground draws its decision regions." if data.n_features == 2 else ".")
    )
    return data


def class_counts(data):
    """One row per class: its name and its number of samples in each split and in all."""
    ys = {"train": data.y_train, "validation": data.y_val, "test": data.y_test}
    counts = {part: np.bincount(y, minlength=data.n_classes) for part, y in ys.items()}  # (K,) each
    return pd.DataFrame({"class": data.class_names, **counts, "total": sum(counts.values())})


def _once(name, key, compute):
    """``compute()`` once per ``key`` in this session: (result, None), or (None, message) if refused.

    Streamlit reruns the script on every click; the last file is not parsed again each time.
    """
    memo = st.session_state.setdefault("csv_memo", {})
    if name not in memo or memo[name][0] != key:
        try:
            memo[name] = (key, compute(), None)
        except DatasetError as e:
            memo[name] = (key, None, str(e))
    return memo[name][1:]


def _refuse(container, message, previous):
    container.error(f"**This file cannot be used.** {plain(message)}", icon=":material/block:")
    if previous is not None:
        kept = st.session_state.get("csv_file_name", "the previous file")
        container.caption(f"Still using {plain(kept)}: {previous.summary()}.")
    return previous

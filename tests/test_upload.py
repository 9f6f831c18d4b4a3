"""The "Your own CSV" sidebar control, driven through Streamlit's AppTest with real uploads."""

import hashlib
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import app.upload
from app.text import plain
from core.data.csv import MAX_BYTES

IRIS_LIKE = "sepal,petal,species\n" + "".join(
    f"{1.0 + 0.1 * i:.1f},{(7 * i) % 10 / 4:.2f},{('setosa', 'versicolor', 'virginica')[i % 3]}\n" for i in range(15)
)


def shown(markdown):
    """What a reader sees of Markdown that holds no syntax but backslash escapes (and invisible word joiners)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def control_app():
    import streamlit as st

    from app.upload import csv_dataset_control

    data = csv_dataset_control(st.sidebar)
    st.markdown(f"returned: {data.summary() if data is not None else None}")


@pytest.fixture
def at():
    at = AppTest.from_function(control_app, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def upload(at, content, name="iris.csv"):
    at.sidebar.file_uploader(key="w_csv_file").upload(name, content, "text/csv")
    at.run()
    assert not at.exception, at.exception
    return at


def test_before_an_upload_it_asks_for_a_file_and_returns_none(at):
    assert at.markdown[-1].value == "returned: None"
    assert "Upload a CSV file" in at.sidebar.info[0].value
    assert "csv_dataset" not in at.session_state
    uploader = at.sidebar.file_uploader(key="w_csv_file")
    assert "200 columns" in uploader.help and "50,000 rows" in uploader.help and "5 MB" in uploader.help


def test_a_good_upload_shows_preview_label_and_class_counts(at):
    upload(at, IRIS_LIKE.encode())
    preview, counts = at.sidebar.dataframe[0].value, at.sidebar.dataframe[1].value
    assert list(preview.columns) == ["sepal", "petal", "species"] and len(preview) == 5
    np.testing.assert_allclose(preview["sepal"], [1.0, 1.1, 1.2, 1.3, 1.4])
    assert shown(at.sidebar.caption[0].value) == "**iris.csv**: 15 rows × 3 columns, a header row."
    select = at.sidebar.selectbox(key="w_csv_label")
    assert select.options == ["sepal", "petal", "species"] and select.value == "species"  # the last column
    assert counts["class"].tolist() == ["setosa", "versicolor", "virginica"]
    assert counts["total"].tolist() == [5, 5, 5]
    assert (counts["train"] + counts["validation"] + counts["test"]).tolist() == [5, 5, 5]
    data = at.session_state["csv_dataset"]
    assert data.n_features == 2 and data.class_names == ["setosa", "versicolor", "virginica"]
    digest = hashlib.sha256(IRIS_LIKE.encode()).hexdigest()[:16]
    assert at.session_state["csv_key"] == f"{digest}:species"
    assert at.markdown[-1].value == f"returned: {data.summary()}"
    assert "decision regions" in at.sidebar.caption[-1].value  # two features


def test_choosing_another_label_column_rebuilds_the_dataset(at):
    text = "a,b,c\n" + "".join(f"{i},{i % 2},{i % 3}\n" for i in range(12))
    upload(at, text.encode(), "three.csv")
    first = at.session_state["csv_dataset"]
    assert first.class_names == ["0", "1", "2"] and at.session_state["csv_key"].endswith(":c")
    at.sidebar.selectbox(key="w_csv_label").set_value("b").run()
    second = at.session_state["csv_dataset"]
    assert second is not first and second.class_names == ["0", "1"] and second.n_features == 2
    assert at.session_state["csv_key"].endswith(":b")
    assert at.sidebar.dataframe[1].value["total"].tolist() == [6, 6]


def test_a_bad_upload_after_a_good_one_keeps_the_good_dataset(at):
    upload(at, IRIS_LIKE.encode())
    good, good_key = at.session_state["csv_dataset"], at.session_state["csv_key"]
    bad = IRIS_LIKE.replace("1.3,", "abc,", 1)
    upload(at, bad.encode(), "broken.csv")
    assert len(at.sidebar.error) == 1
    assert (
        shown(at.sidebar.error[0].value)
        == "**This file cannot be used.** Line 5, column 'sepal': 'abc' is not a number."
    )
    assert at.session_state["csv_dataset"] is good and at.session_state["csv_key"] == good_key
    assert "Still using iris.csv" in shown(at.sidebar.caption[-1].value)
    assert at.markdown[-1].value == f"returned: {good.summary()}"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "This is not a CSV file: it looks like a PNG image."),
        ("x,y\ncafé,1\n".encode("latin-1"), "The file is not UTF-8 text (byte 0xE9 on line 2)"),
        (b"x,y,label\n", "The file has a header (line 1) but no data rows."),
        (b"x,y\n" + b"\n" * MAX_BYTES, "The file is larger than 5 MB (5.0 MB)"),
    ],
)
def test_a_refused_first_upload_shows_the_reason_and_returns_none(at, content, message):
    upload(at, content, "bad.csv")
    assert message in shown(at.sidebar.error[0].value)
    assert "csv_dataset" not in at.session_state and at.markdown[-1].value == "returned: None"
    assert not at.sidebar.selectbox  # nothing to choose from a file that cannot be read


def test_a_refused_label_column_keeps_the_select_and_the_previous_dataset(at):
    upload(at, IRIS_LIKE.encode())
    good = at.session_state["csv_dataset"]
    at.sidebar.selectbox(key="w_csv_label").set_value("sepal").run()  # species becomes a feature
    assert shown(at.sidebar.error[0].value).endswith("Line 2, column 'species': 'setosa' is not a number.")
    assert at.sidebar.selectbox(key="w_csv_label").value == "sepal"  # the user can pick another
    assert at.session_state["csv_dataset"] is good


def test_clearing_the_upload_keeps_the_dataset(at):
    upload(at, IRIS_LIKE.encode())
    good = at.session_state["csv_dataset"]
    at.sidebar.file_uploader(key="w_csv_file").clear()
    at.run()
    assert at.session_state["csv_dataset"] is good
    assert shown(at.sidebar.caption[0].value).startswith("Using iris.csv: csv: ")


def test_a_new_file_resets_a_label_it_does_not_have(at):
    upload(at, IRIS_LIKE.encode())
    at.sidebar.selectbox(key="w_csv_label").set_value("petal").run()
    other = "u,v,w\n" + "".join(f"{i},{i * 3},{i % 2}\n" for i in range(12))
    upload(at, other.encode(), "other.csv")
    assert at.sidebar.selectbox(key="w_csv_label").value == "w"
    assert at.session_state["csv_key"].endswith(":w")


def test_reruns_do_not_parse_the_file_again(at, monkeypatch):
    calls = {"inspect": 0, "load": 0}
    inspect, load = app.upload.inspect_csv, app.upload.load_csv

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(app.upload, "inspect_csv", counting("inspect", inspect))
    monkeypatch.setattr(app.upload, "load_csv", counting("load", load))
    upload(at, IRIS_LIKE.encode())
    at.run()
    at.run()
    assert calls == {"inspect": 1, "load": 1}


LINK = "[c](https://evil.example)"


def test_file_and_class_names_and_quoted_values_show_as_plain_text(at):
    name = f"{LINK} **big**.csv"
    classes = [LINK, "**bold**", ":material/warning: x"]
    rows = "".join(f"{i * 0.5},{i % 5},{classes[i % 3]}\n" for i in range(15))
    upload(at, f"a,b,label\n{rows}".encode(), name)
    caption = at.sidebar.caption[0].value
    assert caption.startswith(f"**{plain(name)}**: 15 rows") and shown(caption).startswith(f"**{name}**: 15 rows")
    assert at.session_state["csv_dataset"].class_names == sorted(classes)

    bad = f"a,b,label\n1,{LINK},x\n" + "1,2,y\n" * 11
    upload(at, bad.encode(), f"{LINK}.csv")  # the value is quoted in the message
    message = "Line 2, column 'b': '[c](https://evil.example…' is not a number."  # cut after 24 characters
    assert at.sidebar.error[0].value == f"**This file cannot be used.** {plain(message)}"
    assert at.sidebar.caption[-1].value == f"Still using {plain(name)}: {at.session_state['csv_dataset'].summary()}."
    for element in [*at.sidebar.caption, *at.sidebar.error]:
        assert "](https" not in element.value and "**big**" not in element.value  # no link, no bold

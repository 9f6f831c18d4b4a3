"""The export controls on a page: download menus that render nothing until clicked, the run
download → upload round trip, and the link to the view."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

import app.export
from core.data import load_dataset
from core.training.config import TrainConfig
from core.training.trainer import Trainer


@pytest.fixture
def deferred(monkeypatch):
    """{file name: (mime, callable)} of every lazy download a run registers."""
    files = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        files[file_name] = (mimetype, data_callable)
        return original(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return files


@pytest.fixture
def renders(monkeypatch):
    """How often each export ran: {"png": n, "svg": n, "csv": n}."""
    counts = {"png": 0, "svg": 0, "csv": 0}
    for kind in counts:
        real = getattr(app.export, f"chart_{kind}")

        def counted(chart, _real=real, _kind=kind):
            counts[_kind] += 1
            return _real(chart)

        monkeypatch.setattr(app.export, f"chart_{kind}", counted)
    return counts


def page_with_charts():
    import altair as alt
    import pandas as pd
    import streamlit as st

    from app.export import export_menu

    frame = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.9, 0.5, 0.4]})
    st.button("Rerun", key="rerun")
    for name in ("Loss per epoch", "Accuracy (validation)"):
        chart = alt.Chart(frame, title=name).mark_line().encode(x="epoch:Q", y="loss:Q")
        st.altair_chart(chart)
        export_menu(chart, name)
    export_menu(alt.Chart("https://example.invalid/a.csv").mark_point(), "From a file")


def test_every_chart_gets_three_lazy_downloads_with_its_file_names(deferred, renders):
    at = AppTest.from_function(page_with_charts, default_timeout=30).run()
    at.button(key="rerun").click().run()
    assert not at.exception
    menus = at.get("popover")
    assert [m.proto.popover.label for m in menus] == ["Download"] * 3 and [len(m.children) for m in menus] == [3] * 3
    buttons = at.download_button
    assert [b.label for b in buttons] == ["PNG image (for slides)", "SVG (vector)", "CSV data"] * 3
    assert [b.disabled for b in buttons] == [False] * 8 + [True]  # a chart without inline data has no CSV
    assert all(b.proto.ignore_rerun for b in buttons)  # a download does not rerun the page
    assert renders == {"png": 0, "svg": 0, "csv": 0}  # two runs, nothing rendered
    assert {
        "loss-per-epoch.png",
        "loss-per-epoch.svg",
        "loss-per-epoch.csv",
        "accuracy-validation.png",
        "accuracy-validation.svg",
        "accuracy-validation.csv",
    } <= set(deferred)

    mime, make = deferred["loss-per-epoch.png"]
    png = make()  # what a click runs
    assert mime == "image/png" and renders["png"] == 1
    assert Image.open(io.BytesIO(png)).width >= 2 * app.export.EXPORT_WIDTH
    mime, make = deferred["accuracy-validation.csv"]
    assert mime == "text/csv" and len(pd.read_csv(io.StringIO(make()))) == 3
    assert deferred["loss-per-epoch.svg"][0] == "image/svg+xml" and "<svg" in deferred["loss-per-epoch.svg"][1]()


def run_page(trainer):
    import streamlit as st

    from app.export import run_downloads, run_upload

    run_downloads(trainer, "Moons tanh run")
    run = run_upload()
    if run is not None:
        st.write(f"widths {run.widths}")
        st.session_state.loaded = run


@pytest.fixture(scope="module")
def trainer():
    data = load_dataset("moons", n_samples=200, seed=5)
    t = Trainer(
        data, TrainConfig(hidden_dims=(5,), activation="relu", lr=0.2, batch_size=40, epochs=2, dtype="float64")
    )
    for _ in t.epochs():
        pass
    return t


def test_a_downloaded_run_uploads_back_and_a_pickled_file_is_refused(deferred, trainer):
    at = AppTest.from_function(run_page, kwargs={"trainer": trainer}, default_timeout=30).run()
    assert not at.exception
    assert {"moons-tanh-run.zip", "moons-tanh-run-history.csv", "moons-tanh-run-weights.npz"} <= set(deferred)
    raw = deferred["moons-tanh-run.zip"][1]()

    at.file_uploader[0].upload("moons-tanh-run.zip", raw, "application/zip").run()
    assert not at.exception and not at.error
    loaded = at.session_state.loaded
    assert any("widths [2, 5, 2]" in m.value for m in at.markdown)
    assert all(np.array_equal(loaded.weights[k], v) for k, v in trainer.best["weights"].items())
    pd.testing.assert_frame_equal(loaded.history, trainer.history())
    assert loaded.metrics["test_accuracy"] == pytest.approx(trainer.test_metrics()["test_accuracy"])

    pickled = io.BytesIO()
    np.savez(pickled, W1=np.array([print], dtype=object), b1=np.zeros(1))
    at.file_uploader[0].set_value(("weights.npz", pickled.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and "pickled" in at.error[0].value and "\n" not in at.error[0].value


def link_page():
    import streamlit as st

    from app.export import copy_link

    st.query_params["depth"] = "3"  # the page writes its configuration first
    copy_link()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://lab.example:8501/playground", "http://lab.example:8501/playground?dataset=spiral&depth=3"),
        (None, "?dataset=spiral&depth=3"),
    ],
)
def test_copy_link_shows_the_address_of_this_view(url, expected):
    at = AppTest.from_function(link_page, default_timeout=30)
    at.query_params["dataset"] = "spiral"
    if url:
        at.context = {"url": url}
    at.run()
    assert not at.exception
    assert at.code[0].value == expected

"""User-provided text reaches the pages as plain text; a saved run reopens on the Playground; a deployed
server shows no traceback.

An uploaded file's name and class names, and the values errors quote, are shown through ``app.text.plain``:
a class named ``[c](https://evil.example)`` must never become a link, ``**bold**`` never lose its stars.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from app.text import plain
from core.training.runs import run_zip
from deploy.run_local import app_command
from tests.page_testing import ENTRYPOINT, metrics, open_page, the_trainer

LINK = "[c](https://evil.example)"
CLASSES = [LINK, "**bold**"]


def hostile_csv():
    """60 rows of two features; the label, which x₀'s sign decides, is named as Markdown syntax."""
    X = np.random.default_rng(0).normal(size=(60, 2))  # (N, 2)
    return ("x0,x1,label\n" + "".join(f"{a:.4f},{b:.4f},{CLASSES[int(a > 0)]}\n" for a, b in X)).encode()


def shown_as_markdown(at):
    """Every text the page hands to Markdown: captions, markdown, alerts, metric values."""
    parts = [*at.caption, *at.markdown, *at.info, *at.warning, *at.error, *at.success]
    return [p.value for p in parts] + [m.value for m in at.metric]


@pytest.fixture(scope="module")
def uploaded():
    at = AppTest.from_file(ENTRYPOINT, default_timeout=120)
    at.query_params["dataset"] = "csv"
    at.run()
    at.sidebar.file_uploader(key="w_csv_file").upload("mine.csv", hostile_csv(), "text/csv").run()
    assert not at.exception, at.exception
    assert at.session_state["csv_dataset"].class_names == sorted(CLASSES)
    return at


@pytest.mark.parametrize("page", ["forward", "backward", "jacobians"])
def test_class_names_from_an_upload_show_as_plain_text_on_the_sample_pages(uploaded, page):
    at = uploaded.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, at.exception
    texts = shown_as_markdown(at)
    y = int(at.session_state["csv_dataset"].y_test[0])
    name = at.session_state["csv_dataset"].class_names[y]
    assert any(f"test sample #0, true class {plain(name)}" in t for t in texts)  # the picker's caption
    assert not [t for t in texts if "](https" in t or "**bold**" in t]  # never a link, never bold
    if page == "forward":
        assert metrics(at)["Predicted class"] in {plain(c) for c in CLASSES}


@pytest.fixture(scope="module")
def playground():
    at = open_page("playground")
    at.button(key="step_epoch").click().run()
    return at


def test_a_saved_run_reopens_on_the_playground_and_scores_its_weights_on_the_data(playground):
    at, trainer = playground, the_trainer(playground)
    at.file_uploader(key="run_upload").upload("moons.zip", run_zip(trainer), "application/zip").run()
    assert not at.exception and not at.error
    _, accuracy = trainer.evaluate("test", weights=trainer.best["weights"])
    (note,) = [c.value for c in at.caption if c.value.startswith("Its weights")]
    expected = f"Its weights (2 → 8 → 8 → 2, tanh) classify {accuracy:.1%} of this data's test set"
    assert note == expected + "; the run above keeps its own."


def test_a_refused_run_file_names_itself_as_plain_text(playground):
    at = playground
    at.file_uploader(key="run_upload").upload(f"{LINK}.zip", b"not a zip", "application/zip").run()
    assert not at.exception
    assert [e.value for e in at.error] == [plain(f"“{LINK}.zip” is not a .zip or .npz file.")]


def boom():
    raise ValueError("secret detail of /srv/lab")


def test_a_deployed_server_shows_no_traceback_and_development_keeps_it():
    command = app_command(8501)
    flag = command[command.index("--client.showErrorDetails") + 1]
    dockerfile = (Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile").read_text()
    assert flag == "none" and f'"--client.showErrorDetails={flag}"]' in dockerfile
    development = (Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text()
    assert not re.search(r"^\s*showErrorDetails", development, re.M)  # Streamlit's default there: "full"
    try:
        config.set_option("client.showErrorDetails", flag)  # what the command line sets in the served process
        shown = AppTest.from_function(boom).run().exception[0]
    finally:
        config.set_option("client.showErrorDetails", "full")
    assert shown.stack_trace == [] and "secret" not in shown.message and "redacted" in shown.message

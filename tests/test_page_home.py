"""The Home page and the shell: links to every view, unknown addresses, the configuration following the user."""

import subprocess
import sys

import pytest
from streamlit import config as st_config

from app.views import VIEWS
from core.analysis.text.notation import INDEX_CONVENTION
from tests.page_testing import ENTRYPOINT, captions, open_app


def test_home_links_every_view_in_order_and_names_the_setup():
    at = open_app()
    assert at.title[0].value == "MLP Backprop Lab"
    links = at.get("page_link")
    assert [e.proto.label.strip("*") for e in links] == [view.title for view in VIEWS]
    assert [e.proto.page for e in links] == [view.url_path for view in VIEWS]
    assert "Two moons" in captions(at)[0] and "tanh" in captions(at)[0]
    assert any(INDEX_CONVENTION in c for c in captions(at))
    assert not at.warning  # the app's own address is not an unknown page


@pytest.mark.parametrize(
    "path, shown, near",
    [
        ("/nonsense", "/nonsense", None),
        ("/forward/x", "/forward/x", "Forward pass"),
        ("/%3Cb%3Ex", "/\\<b\\>x", None),
        ("/jacobian", "/jacobian", "Jacobians"),
        ("/Backwards", "/Backwards", "Backward pass"),
        ("/" + "x" * 100, "/" + "x" * 60 + "…", None),
    ],
)
def test_an_unknown_address_says_that_the_page_does_not_exist_and_suggests_the_nearest(path, shown, near):
    at = open_app(context={"url": f"http://localhost:8501{path}"})
    (warning,) = at.warning
    assert f"There is no page at **{shown}**" in warning.value and "this is the Home page" in warning.value
    links = [(e.proto.label, e.proto.page) for e in at.get("page_link")]
    if near is None:
        assert "Did you mean" not in warning.value and len(links) == len(VIEWS)
    else:
        view = next(v for v in VIEWS if v.title == near)
        assert warning.value.endswith(f"Did you mean **{near}**?") and links[0] == (f"Open {near}", view.url_path)


def test_home_by_its_name_is_not_an_unknown_page():
    for path in ("/home", "/Home"):
        assert not open_app(context={"url": f"http://localhost:8501{path}"}).warning


def test_an_unknown_address_below_a_base_path():
    st_config.set_option("server.baseUrlPath", "lab")
    try:
        assert not open_app(context={"url": "http://example.org/lab"}).warning
        (warning,) = open_app(context={"url": "http://example.org/lab/nonsense"}).warning
        assert "**/nonsense**" in warning.value
    finally:
        st_config.set_option("server.baseUrlPath", "")


def test_home_does_not_import_torch():
    """torch costs ~2 s to import: the Home page must open without it (checked in a fresh process)."""
    script = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"at = AppTest.from_file({ENTRYPOINT!r}); at.run(); assert not at.exception; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_configuration_survives_switching_pages_and_is_in_the_url():
    at = open_app()
    at.sidebar.selectbox(key="w_dataset").set_value("xor").run()
    at.sidebar.number_input(key="w_width").set_value(5).run()
    at.switch_page("../pages/forward.py")
    at.run()
    at.switch_page("../pages/home.py")
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="w_dataset").value == "xor"
    assert at.sidebar.number_input(key="w_width").value == 5
    assert at.query_params["dataset"] == "xor" and at.query_params["width"] == "5"
    assert "XOR" in captions(at)[0] and "5 → 5" in captions(at)[0]


def test_projector_mode_hides_the_advanced_controls():
    at = open_app(present="1")
    keys = {w.key for w in at.sidebar.number_input}
    assert {"w_depth", "w_width"} <= keys and "w_seed" not in keys and "w_batch_size" not in keys
    assert at.sidebar.select_slider(key="w_lr").value == 0.3
    at.sidebar.toggle[0].set_value(False).run()
    assert "w_seed" in {w.key for w in at.sidebar.number_input}
    assert "present" not in at.query_params


def test_a_link_inside_the_app_with_a_preset_replaces_the_sessions_configuration():
    at = open_app()
    at.sidebar.number_input(key="w_width").set_value(5).run()
    at.query_params.clear()  # navigating without a preset keeps the session's configuration
    at.run()
    assert at.sidebar.number_input(key="w_width").value == 5
    at.query_params.clear()
    at.query_params.update({"dataset": "digits", "batch_norm": "1", "depth": "3"})  # a course question's link
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="w_dataset").value == "digits"
    assert at.sidebar.toggle(key="w_batch_norm").value is True and at.sidebar.number_input(key="w_depth").value == 3
    assert at.sidebar.number_input(key="w_width").value == 8  # the rest of the preset is the default

"""The Home page and the shell: links to every view, the configuration following the user."""

import subprocess
import sys

from streamlit.testing.v1 import AppTest

from tests.helpers import ENTRYPOINT


def test_home_links_every_view_and_names_the_setup():
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value == "MLP Backprop Lab"
    links = [e.proto.label for e in at.get("page_link")]
    assert links == ["**Playground**", "**Forward pass**", "**Backward pass**"]
    assert "Two moons" in at.caption[0].value and "tanh" in at.caption[0].value


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
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    at.run()
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
    assert "XOR" in at.caption[0].value and "5 → 5" in at.caption[0].value


def test_projector_mode_hides_the_advanced_controls():
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    keys = {w.key for w in at.sidebar.number_input}
    assert "w_lr" in keys and "w_seed" not in keys and "w_batch_size" not in keys
    at.sidebar.toggle[0].set_value(False).run()
    assert "w_seed" in {w.key for w in at.sidebar.number_input}
    assert "present" not in at.query_params

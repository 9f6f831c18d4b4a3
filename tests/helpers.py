"""Shared test helper: open a page of the app from its entrypoint, as a user would."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ENTRYPOINT = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def open_page(page, **query):
    """Run the app with ``query`` in the URL, switch to ``pages/<page>.py`` and check it ran cleanly."""
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(f"../pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at

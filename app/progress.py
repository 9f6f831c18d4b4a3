"""The one progress bar of the app: anything that takes over a second shows how far it is."""

from contextlib import contextmanager

import streamlit as st


@contextmanager
def progress_bar(text, unit=""):
    """A progress bar while the block runs, removed after it; yields the ``progress(done, total)`` callback
    that core's long computations accept ("Training… (3 of 10 epochs)" with ``unit="epochs"``).

    Used inside a cached function, the bar belongs to it: a cache hit replays the bar and its removal.
    """
    box = st.empty()
    bar = box.progress(0.0, text=text)
    of = f" {unit}" if unit else ""

    def progress(done, total):
        bar.progress(min(max(done / total, 0.0), 1.0), text=f"{text} ({done} of {total}{of})")

    yield progress
    box.empty()

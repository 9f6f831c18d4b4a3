"""Home: what each view teaches, with links; an address that names no page is said to be unknown."""

from difflib import get_close_matches
from urllib.parse import unquote, urlparse

import streamlit as st

from app.controls import config_summary, sidebar
from app.text import plain
from app.views import VIEWS
from core.analysis.text.notation import INDEX_CONVENTION


def requested_path():
    """The page address the browser asked for, below the app's base path ("" for Home itself).

    Streamlit runs the default page (this one) for an address that names no page; ``st.context.url``
    still holds the address that was asked for.
    """
    path = unquote(urlparse(st.context.url or "").path).strip("/")
    base = st.get_option("server.baseUrlPath").strip("/")
    return path[len(base) :].strip("/") if base and (path == base or path.startswith(base + "/")) else path


def closest_view(asked):
    """The view whose address or title is nearest to a mistyped address ("forwad" → Forward pass), or None."""
    names = {name.lower(): view for view in VIEWS for name in (view.url_path, view.title)}
    match = get_close_matches(asked.lower(), list(names), n=1, cutoff=0.6)
    return names[match[0]] if match else None


config = sidebar()

st.title("MLP Backprop Lab")
asked = requested_path()
if asked and asked.lower() != "home":  # /home is this page (Streamlit gives Home the app's own address)
    shown = asked if len(asked) <= 60 else asked[:60] + "…"
    near = closest_view(asked)
    st.warning(
        f"There is no page at **/{plain(shown)}**: this is the Home page, and the views are listed below."
        + (f" Did you mean **{near.title}**?" if near else ""),
        icon=":material/link_off:",
    )
    if near:
        st.page_link(near.path, label=f"Open {near.title}", icon=near.icon)
st.markdown(
    "Watch a multi-layer perceptron learn, **with the real numbers**: every activation, every "
    "gradient, the hand-derived NumPy backward next to PyTorch's autograd. Pick a view; the "
    "network and data set in the sidebar follow you from view to view, and the address bar "
    "always holds a link that reopens exactly this setup."
)
st.caption(f"Current setup: {config_summary(config)}")

for view in VIEWS:
    with st.container(border=True):
        st.page_link(view.path, label=f"**{view.title}**", icon=view.icon)
        st.write(view.blurb)

st.caption(
    "Everything runs on the CPU with the embedded data: no download, no GPU. "
    "Projector mode (sidebar) enlarges text and charts for a lecture hall."
)
st.caption(f"**One notation on every page.** {INDEX_CONVENTION}")

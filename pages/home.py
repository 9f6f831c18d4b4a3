"""Home: what each view teaches, with links; an address that names no page is said to be unknown."""

from urllib.parse import unquote, urlparse

import streamlit as st

from app.controls import config_summary, sidebar
from app.settings import plain
from app.views import VIEWS
from core.analysis.notation import INDEX_CONVENTION


def requested_path():
    """The page address the browser asked for, below the app's base path ("" for Home itself).

    Streamlit runs the default page (this one) for an address that names no page; ``st.context.url``
    still holds the address that was asked for.
    """
    path = unquote(urlparse(st.context.url or "").path).strip("/")
    base = st.get_option("server.baseUrlPath").strip("/")
    return path[len(base) :].strip("/") if base and (path == base or path.startswith(base + "/")) else path


config = sidebar()

st.title("MLP Backprop Lab")
if asked := requested_path():
    st.warning(f"There is no page at **/{plain(asked[:80])}**: this is the Home page. The views are listed below.",
               icon=":material/link_off:")  # fmt: skip
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
    f"Projector mode (sidebar) enlarges text and charts for a lecture hall. {INDEX_CONVENTION}"
)

"""Home: what each view teaches, with links."""

import streamlit as st

from app.controls import config_summary, sidebar
from app.views import VIEWS

config = sidebar()

st.title("MLP Backprop Lab")
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

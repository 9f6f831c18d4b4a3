"""Entrypoint: ``streamlit run app/main.py``. Page config and routing only."""

import os
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # streamlit puts app/ on sys.path, not the repository root
    sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)

import streamlit as st  # noqa: E402

st.set_page_config(
    page_title="MLP Backprop Lab",
    page_icon="🧮",
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "expanded",
)

pages = [
    st.Page("../pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("../pages/playground.py", title="Playground", icon=":material/tune:", url_path="playground"),
    st.Page("../pages/forward.py", title="Forward pass", icon=":material/arrow_forward:", url_path="forward"),
    st.Page("../pages/backward.py", title="Backward pass", icon=":material/arrow_back:", url_path="backward"),
]
st.navigation(pages).run()

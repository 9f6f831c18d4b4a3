"""Entrypoint: ``streamlit run app/main.py``. Page config and routing only."""

import os
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # streamlit puts app/ on sys.path, not the repository root
    sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)

from core.threads import limit_process  # noqa: E402

limit_process()  # one thread per matrix product: every session computes at once (core/threads.py)

import streamlit as st  # noqa: E402

from app.views import VIEWS  # noqa: E402

st.set_page_config(
    page_title="MLP Backprop Lab",
    page_icon="🧮",
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "expanded",
)

home = st.Page("../pages/home.py", title="Home", icon=":material/home:", default=True)
pages = [st.Page(v.path, title=v.title, icon=v.icon, url_path=v.url_path) for v in VIEWS]
st.navigation([home, *pages]).run()

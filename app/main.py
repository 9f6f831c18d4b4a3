"""Entrypoint: ``streamlit run app/main.py``. Page config and routing only."""

import os
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # streamlit puts app/ on sys.path, not the repository root
    sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
# One thread per matrix product: on a server every session computes at once, and a second BLAS or
# torch thread per session only spins against the others (torch reads this when it is imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import streamlit as st  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(limits=1)  # NumPy's OpenBLAS is loaded already: limit it in place

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

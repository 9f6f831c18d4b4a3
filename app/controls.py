"""Sidebar controls shared by every page; they return an ``AppConfig`` and mirror it in the URL."""

import os
from dataclasses import fields

import streamlit as st

from app.settings import CHOICES, UI_LIMITS, AppConfig, from_query, to_query
from core.data import DATA_DIR as DEFAULT_DATA_DIR
from core.data import TOY_DATASETS, files_present

DATA_DIR = os.environ.get("MLP_LAB_DATA_DIR", DEFAULT_DATA_DIR)

LABELS = {
    "digits": "8×8 digits (embedded)", "moons": "Two moons", "circles": "Circles", "spiral": "Spiral (3 classes)",
    "xor": "XOR", "blobs": "Gaussian blobs (3 classes)", "mnist": "MNIST", "cifar10": "CIFAR-10",
    "sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "SGD + Nesterov", "adam": "Adam",
    "elu": "ELU", "relu": "ReLU", "leaky_relu": "Leaky ReLU", "tanh": "tanh", "sigmoid": "sigmoid",
    "identity": "identity (linear)", "numpy": "NumPy (hand-derived)", "torch": "PyTorch (autograd)",
}  # fmt: skip


def label(value):
    return LABELS.get(value, str(value))


def dataset_label(name):
    """The data set's name, marked when its files are not in the data directory."""
    return label(name) if files_present(name, DATA_DIR) else f"{label(name)} (files not found)"


def _init_state():
    """Read the URL once per session: the config it names, and notices for rejected values."""
    if "config" not in st.session_state:
        config, notices = from_query(st.query_params.to_dict())
        st.session_state.config = config
        st.session_state.url_notices = notices
        st.session_state.presentation = st.query_params.get("present") == "1"
    for f in fields(AppConfig):
        # Re-assigning a widget's key keeps its value when another page renders the widget
        # anew (Streamlit would otherwise reset it); new keys start from the canonical config.
        keep(f"w_{f.name}", getattr(st.session_state.config, f.name))


def keep(key, default):
    """Keep a widget's value across pages (re-assigning its key), or start it at ``default``."""
    st.session_state[key] = st.session_state[key] if key in st.session_state else default


def presentation_mode():
    """True when the projector layout is on (toggle in the sidebar, ``present=1`` in the URL)."""
    return bool(st.session_state.get("presentation", False))


def chart_height(base=320):
    """Chart height in pixels, larger in presentation mode."""
    return int(base * 1.4) if presentation_mode() else base


def show_chart(chart, box=None, width="stretch"):
    """Draw an Altair chart (full width by default), with larger text in projector mode.

    In projector mode the chart keeps its own configuration (``theme=None``): Streamlit's theme
    would reset the font sizes.
    """
    theme = "streamlit"
    if presentation_mode():
        theme = None
        chart = (
            chart.configure_axis(labelFontSize=16, titleFontSize=18)
            .configure_legend(labelFontSize=16, titleFontSize=16)
            .configure_title(fontSize=20, subtitleFontSize=16)
        )
    (box or st).altair_chart(chart, width=width, theme=theme)


def _apply_presentation_css():
    if presentation_mode():
        st.markdown(
            """<style>
            [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
            [data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p { font-size: 1.3rem !important; }
            h1 { font-size: 3.2rem !important; } h2 { font-size: 2.4rem !important; } h3 { font-size: 1.9rem !important; }
            [data-testid="stMetric"] [data-testid="stMetricValue"] * { font-size: 2.8rem !important; }
            [data-testid="stMetric"] [data-testid="stMetricLabel"] * { font-size: 1.3rem !important; }
            </style>""",
            unsafe_allow_html=True,
        )


def sidebar():
    """Render the shared controls and return the current ``AppConfig``.

    Every value is also written to the URL query string, so the address reopens this setup.
    """
    _init_state()
    sb = st.sidebar
    for notice in st.session_state.pop("url_notices", []):
        st.warning(notice, icon=":material/link:")
    st.session_state.presentation = sb.toggle(
        "Projector mode", value=presentation_mode(), help="Larger text and charts, fewer controls."
    )
    _apply_presentation_css()
    compact = presentation_mode()

    sb.header("Data")
    sb.selectbox("Data set", CHOICES["dataset"], format_func=dataset_label, key="w_dataset")
    if st.session_state.w_dataset in TOY_DATASETS and not compact:
        sb.slider("Points", *UI_LIMITS["n_samples"], step=50, key="w_n_samples")
        sb.slider("Noise", *UI_LIMITS["noise"], step=0.05, key="w_noise")

    sb.header("Network")
    sb.caption("Up to 8 hidden layers of up to 512 units each.")
    c1, c2 = sb.columns(2)
    c1.number_input("Hidden layers", *UI_LIMITS["depth"], step=1, key="w_depth",
                    help="0 to 8 hidden layers (softmax regression with 0).")  # fmt: skip
    c2.number_input("Units per layer", *UI_LIMITS["width"], step=1, key="w_width", help="1 to 512 units per layer.")
    sb.selectbox("Activation", CHOICES["activation"], format_func=label, key="w_activation")

    sb.header("Training")
    sb.selectbox("Optimizer", CHOICES["optimizer"], format_func=label, key="w_optimizer")
    sb.number_input("Learning rate", *UI_LIMITS["lr"], format="%.4g", key="w_lr",
                    help="Between 0.00001 and 10. Too large and the loss diverges.")  # fmt: skip
    if not compact:
        c1, c2 = sb.columns(2)
        c1.number_input("Batch size", *UI_LIMITS["batch_size"], step=1, key="w_batch_size")
        c2.number_input("Epochs", *UI_LIMITS["epochs"], step=1, key="w_epochs")
        sb.number_input("Seed", *UI_LIMITS["seed"], step=1, key="w_seed", help="Same seed, same initial weights.")
        sb.radio("Backend", CHOICES["backend"], format_func=label, key="w_backend", horizontal=True)
        sb.radio("Precision", CHOICES["dtype"], key="w_dtype", horizontal=True)

    values = {f.name: st.session_state[f"w_{f.name}"] for f in fields(AppConfig)}
    config = AppConfig(**values)
    st.session_state.config = config
    query = to_query(config)
    if presentation_mode():
        query["present"] = "1"
    if query != st.query_params.to_dict():
        st.query_params.from_dict(query)
    return config


def config_summary(config):
    """One line naming the network and the run, for captions."""
    if config.depth:
        net = f"hidden {' → '.join(str(w) for w in config.hidden_dims)} · {label(config.activation)}"
    else:
        net = "no hidden layer (softmax regression)"
    return (
        f"{label(config.dataset)} · {net} · {label(config.optimizer)} "
        f"lr {config.lr:g} · batch {config.batch_size} · seed {config.seed} · {label(config.backend)}"
    )

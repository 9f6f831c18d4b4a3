"""Sidebar controls shared by every page; they return an ``AppConfig`` and mirror it in the URL."""

import os
from dataclasses import fields

import streamlit as st

from app.charts.display import apply_presentation_css, presentation_mode
from app.export import copy_link
from app.text import plain
from core.data import DATA_DIR as DEFAULT_DATA_DIR
from core.data import TOY_DATASETS, files_present
from core.links import CHOICES, DEFAULT_LR, UI_LIMITS, UPLOADED, AppConfig, from_query, lr_options, to_query
from core.training.config import MAX_STEPS

DATA_DIR = os.environ.get("MLP_LAB_DATA_DIR", DEFAULT_DATA_DIR)
CONFIG_KEYS = {f.name for f in fields(AppConfig)}

LABELS = {
    "digits": "8×8 digits (embedded)",
    "moons": "Two moons",
    "circles": "Circles",
    "spiral": "Spiral (3 classes)",
    "xor": "XOR",
    "blobs": "Gaussian blobs (3 classes)",
    "mnist": "MNIST",
    "cifar10": "CIFAR-10",
    UPLOADED: "Your own CSV file",
    "sgd": "SGD",
    "momentum": "SGD + momentum",
    "nesterov": "SGD + Nesterov",
    "adam": "Adam",
    "elu": "ELU",
    "relu": "ReLU",
    "leaky_relu": "Leaky ReLU",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "identity": "identity (linear)",
    "numpy": "NumPy (hand-derived)",
    "torch": "PyTorch (autograd)",
}


def label(value):
    return LABELS.get(value, str(value))


def dataset_label(name):
    """The data set's name, marked when its files are not in the data directory."""
    return label(name) if files_present(name, DATA_DIR) else f"{label(name)} (files not found)"


def keep(key, default):
    """Keep a widget's value across pages (re-assigning its key), or start it at ``default``.

    Streamlit forgets a widget's value when a page that does not draw it runs; re-assigning the
    key in session state keeps it.
    """
    st.session_state[key] = st.session_state[key] if key in st.session_state else default


def clamp(key, lo, hi, default=None):
    """Keep the whole-number widget value under ``key`` inside [lo, hi] (e.g. fewer units after a change)."""
    keep(key, lo if default is None else default)
    st.session_state[key] = min(max(int(st.session_state[key]), lo), hi)
    return st.session_state[key]


def _init_state():
    """Read the URL when the session starts, or when a link inside the app opens a page with a preset.

    A link's configuration replaces the session's (with notices for rejected values); navigating
    without one keeps it. The configuration's own URL form (written at the end of ``sidebar``) never
    counts as a new link.
    """
    params = st.query_params.to_dict()
    linked = {k: v for k, v in params.items() if k in CONFIG_KEYS}
    new_link = "config" in st.session_state and linked and linked != to_query(st.session_state.config)
    if "config" not in st.session_state or new_link:
        config, notices = from_query(params)
        st.session_state.config = config
        st.session_state.url_notices = notices
        st.session_state.presentation = params.get("present") == "1"
        st.session_state.lr_chosen = "lr" in params  # a link's lr is a choice, kept on optimizer changes
        for f in fields(AppConfig):
            st.session_state[f"w_{f.name}"] = getattr(config, f.name)
    for f in fields(AppConfig):
        keep(f"w_{f.name}", getattr(st.session_state.config, f.name))


def _optimizer_changed():
    """A new optimizer starts from its own sensible learning rate unless the user chose one."""
    if not st.session_state.get("lr_chosen"):
        st.session_state.w_lr = DEFAULT_LR[st.session_state.w_optimizer]


def _lr_changed():
    st.session_state.lr_chosen = True


def sidebar():
    """Render the shared controls and return the current ``AppConfig``.

    Every value is also written to the URL query string, so the address reopens this setup.
    """
    _init_state()
    sb = st.sidebar
    for notice in st.session_state.pop("url_notices", []):
        st.warning(plain(notice), icon=":material/link:")  # the rejected value is the link's text
    st.session_state.presentation = sb.toggle(
        "Projector mode",
        value=presentation_mode(),
        help="Larger text and charts, fewer controls. Collapse the sidebar (« at its top) for the whole width.",
    )
    apply_presentation_css()
    compact = presentation_mode()

    sb.header("Data")
    sb.selectbox("Data set", CHOICES["dataset"], format_func=dataset_label, key="w_dataset")
    if st.session_state.w_dataset == UPLOADED:
        from app.upload import csv_dataset_control

        csv_dataset_control(sb)
    if st.session_state.w_dataset in TOY_DATASETS and not compact:
        sb.slider("Points", *UI_LIMITS["n_samples"], step=50, key="w_n_samples")
        sb.slider("Noise", *UI_LIMITS["noise"], step=0.05, key="w_noise")

    sb.header("Network")
    lo, hi = UI_LIMITS["depth"]
    lo_w, hi_w = UI_LIMITS["width"]
    sb.caption(f"Up to {hi} hidden layers of up to {hi_w} units each.")
    c1, c2 = sb.columns(2)
    c1.number_input(
        "Hidden layers", lo, hi, step=1, key="w_depth", help=f"{lo} to {hi} hidden layers (softmax regression with 0)."
    )
    c2.number_input("Units per layer", lo_w, hi_w, step=1, key="w_width", help=f"{lo_w} to {hi_w} units per layer.")
    sb.selectbox("Activation", CHOICES["activation"], format_func=label, key="w_activation")
    sb.toggle("Batch norm", key="w_batch_norm", help="Batch norm between each hidden Linear and its activation.")

    sb.header("Training")
    sb.selectbox("Optimizer", CHOICES["optimizer"], format_func=label, key="w_optimizer", on_change=_optimizer_changed)
    sb.select_slider(
        "Learning rate (log scale)",
        lr_options(st.session_state.w_lr),
        key="w_lr",
        format_func=lambda v: f"{v:g}",
        on_change=_lr_changed,
        help="From 0.0001 to 10, in 1-2-3-5 steps. Too large and the loss diverges.",
    )
    if not compact:
        c1, c2 = sb.columns(2)
        b_lo, b_hi = UI_LIMITS["batch_size"]
        c1.number_input("Batch size", b_lo, b_hi, step=1, key="w_batch_size", help=f"{b_lo} to {b_hi:,} samples.")
        e_lo, e_hi = UI_LIMITS["epochs"]
        c2.number_input(
            "Epochs",
            e_lo,
            e_hi,
            step=1,
            key="w_epochs",
            help=f"{e_lo} to {e_hi} passes over the data; at most {MAX_STEPS:,} "
            "mini-batch steps in all (epochs × mini-batches per epoch).",
        )
        sb.number_input("Seed", *UI_LIMITS["seed"], step=1, key="w_seed", help="Same seed, same initial weights.")
        sb.radio("Backend", CHOICES["backend"], format_func=label, key="w_backend", horizontal=True)
        sb.radio(
            "Precision",
            CHOICES["dtype"],
            key="w_dtype",
            horizontal=True,
            help="float64 makes NumPy and autograd agree to about 1e-16; float32 is faster.",
        )

    values = {f.name: st.session_state[f"w_{f.name}"] for f in fields(AppConfig)}
    config = AppConfig(**values)
    st.session_state.config = config
    query = to_query(config)
    if presentation_mode():
        query["present"] = "1"
    if query != st.query_params.to_dict():
        st.query_params.from_dict(query)
    copy_link(sb)
    return config


def config_summary(config):
    """One line naming the network and the run, for captions."""
    if config.depth:
        net = f"hidden {' → '.join(str(w) for w in config.hidden_dims)} · {label(config.activation)}"
        net += " · batch norm" if config.batch_norm else ""
    else:
        net = "no hidden layer (softmax regression)"
    return (
        f"{label(config.dataset)} · {net} · {label(config.optimizer)} "
        f"lr {config.lr:g} · batch {config.batch_size} · seed {config.seed} · {label(config.backend)}"
    )

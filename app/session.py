"""Data sets and per-session trainers, and the guards every page starts with.

Built-in data sets are shared by all sessions (read-only, cached by name); an uploaded CSV and
every trainer live in the session's own state, so one student's run never shows in another's.
"""

import streamlit as st

from app.controls import DATA_DIR, config_summary
from app.text import plain
from core.data import DatasetError, load_dataset
from core.links import UPLOADED
from core.training.config import ConfigError
from core.training.trainer import Trainer

MAX_TRAINERS = 4  # per session; the oldest is dropped beyond this


@st.cache_resource(show_spinner="Loading the data set…", max_entries=6)
def _dataset(name, n_samples, noise, seed):
    """Shared and read-only: datasets are never modified after loading."""
    return load_dataset(name, data_dir=DATA_DIR, n_samples=n_samples, noise=noise, seed=seed)


def dataset_or_stop(config):
    """The configured Dataset, or an error on the page (with what to do) and ``st.stop()``."""
    if config.dataset == UPLOADED:
        data = st.session_state.get("csv_dataset")
        if data is None:
            st.info(
                "Upload a CSV file in the sidebar (numeric feature columns and one label column), or pick "
                "a built-in data set.",
                icon=":material/upload_file:",
            )
            st.stop()
        return data
    try:
        return _dataset(*config.data_key())
    except DatasetError as e:
        st.error(f"**This data set cannot be loaded.** {plain(e)}", icon=":material/folder_off:")
        st.info("Pick another data set in the sidebar: the toy sets and the 8×8 digits are built in.")
        st.stop()


def data_key(config):
    """What the data set depends on: the built-in set's parameters, or the uploaded file's content hash."""
    return ("csv", st.session_state.get("csv_key")) if config.dataset == UPLOADED else config.data_key()


def trainer_or_stop(config, data):
    """This session's Trainer for ``config`` (created at the seeded initial weights on first use).

    Trainers live in ``st.session_state`` (they are mutable and per user), keyed by every field
    that changes the run, so switching pages or back to an earlier setup resumes where it was;
    more epochs continue the same run (``Trainer.extend``).
    """
    run = config.train_config().to_dict()
    epochs = run.pop("epochs")
    key = (data_key(config), repr(run))
    trainers = st.session_state.setdefault("trainers", {})
    try:
        if key not in trainers:
            trainers[key] = Trainer(data, config.train_config())
            while len(trainers) > MAX_TRAINERS:
                trainers.pop(next(iter(trainers)))
        trainers[key].extend(epochs)
    except ConfigError as e:
        st.error(f"**This run cannot be set up.** {plain(e)}", icon=":material/block:")
        st.stop()
    return trainers[key]


def run_status(trainer):
    """The one divergence message every page shows (an error), or nothing for a healthy run."""
    if trainer.diverged:
        st.error(
            f"{trainer.diverged} Everything on this page uses the last weights before it diverged.",
            icon=":material/error:",
        )


def show_weights_note(config, trainer, where="on the Playground"):
    """Caption naming the weights a page shows (initial or after N steps), then ``run_status``."""
    if trainer.global_step == 0:
        shown = f"the initial weights (seed {config.seed}) — train {where} to see a trained net"
    else:
        shown = (
            f"the weights after {trainer.global_step:,} training steps ({trainer.epoch} of {config.epochs} epochs done)"
        )
    st.caption(f"{config_summary(config)}  \nShowing {shown}.")
    run_status(trainer)

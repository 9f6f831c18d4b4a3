"""Cached data sets and per-session trainers, keyed by the configuration."""

import streamlit as st

from app.controls import DATA_DIR, config_summary
from core.config import ConfigError
from core.data import DatasetError, load_dataset
from core.trainer import Trainer

MAX_TRAINERS = 4  # per session; the oldest is dropped beyond this


@st.cache_resource(show_spinner="Loading the data set…", max_entries=6)
def _dataset(name, n_samples, noise, seed):
    """Shared and read-only: datasets are never modified after loading."""
    return load_dataset(name, data_dir=DATA_DIR, n_samples=n_samples, noise=noise, seed=seed)


def dataset_or_stop(config):
    """The configured Dataset, or an error on the page (with what to do) and ``st.stop()``."""
    try:
        return _dataset(*config.data_key())
    except DatasetError as e:
        st.error(f"**This data set cannot be loaded.** {e}", icon=":material/folder_off:")
        st.info("Pick another data set in the sidebar: the toy sets and the 8×8 digits are built in.")
        st.stop()


def trainer_or_stop(config, data):
    """This session's Trainer for ``config`` (created at the seeded initial weights on first use).

    Trainers live in ``st.session_state`` (they are mutable and per user), keyed by every field
    that changes the run, so switching pages or back to an earlier setup resumes where it was.
    """
    run = config.train_config().to_dict()
    epochs = run.pop("epochs")  # more epochs continue the same run rather than start a new one
    key = (config.data_key(), repr(run))
    trainers = st.session_state.setdefault("trainers", {})
    if key not in trainers:
        try:
            trainers[key] = Trainer(data, config.train_config())
        except ConfigError as e:
            st.error(f"**This network cannot be built.** {e}", icon=":material/block:")
            st.stop()
        while len(trainers) > MAX_TRAINERS:
            trainers.pop(next(iter(trainers)))
    trainers[key].config.epochs = epochs
    return trainers[key]


def show_weights_note(config, trainer, where="on the Playground"):
    """Caption naming the weights a page shows (initial or after N steps), and a divergence warning."""
    if trainer.global_step == 0:
        shown = f"the initial weights (seed {config.seed}) — train {where} to see a trained net"
    else:
        shown = (
            f"the weights after {trainer.global_step:,} training steps ({trainer.epoch} of {config.epochs} epochs done)"
        )
    st.caption(f"{config_summary(config)}  \nShowing {shown}.")
    if trainer.diverged:
        st.warning(
            f"{trainer.diverged} The weights shown are the last ones before it diverged.", icon=":material/error:"
        )

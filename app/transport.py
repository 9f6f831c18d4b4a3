"""Play / pause / step / reset for a ``Trainer``: the buttons the Playground and other views share.

Buttons act through callbacks, before the page is drawn, so every button shows the state after the click.
"""

import streamlit as st

from app.live import EPOCH, advance, train_to_epoch


def _set_running(on):
    st.session_state.running = on


def _step_epoch(trainer):
    """One more epoch per click (a click during a sliced epoch adds one): the epoch in progress ends
    at the next boundary. A long epoch goes on in the live panel, in slices."""
    busy = st.session_state.get("running") == EPOCH
    st.session_state.epoch_target = (st.session_state.epoch_target if busy else trainer.epoch) + 1
    if not train_to_epoch(trainer, st.session_state.epoch_target):
        st.session_state.running = EPOCH


def _reset(trainer):
    trainer.reset()
    st.session_state.running = False


def transport(trainer, container=None, play=True):
    """Draw the buttons (keys ``play``/``pause``, ``step_batch``, ``step_epoch``, ``reset``); returns running."""
    st.session_state.setdefault("running", False)
    box = container or st
    cols = box.columns(4 if play else 3)
    stuck = trainer.finished or bool(trainer.diverged)
    running = bool(st.session_state.running) and (play or st.session_state.running == EPOCH)
    if play and running:
        cols[0].button(
            "Pause",
            icon=":material/pause:",
            width="stretch",
            type="primary",
            key="pause",
            on_click=_set_running,
            args=(False,),
        )
    elif play:
        cols[0].button(
            "Play",
            icon=":material/play_arrow:",
            width="stretch",
            type="primary",
            key="play",
            disabled=stuck,
            on_click=_set_running,
            args=(True,),
        )
    c_step, c_epoch, c_reset = cols[-3:]
    idle = running or stuck
    c_step.button(
        "Step 1 batch",
        width="stretch",
        key="step_batch",
        disabled=idle,
        on_click=advance,
        args=(trainer,),
        kwargs={"steps": 1},
    )
    c_epoch.button(
        "Step 1 epoch", width="stretch", key="step_epoch", disabled=idle, on_click=_step_epoch, args=(trainer,)
    )
    c_reset.button(
        "Reset",
        icon=":material/restart_alt:",
        width="stretch",
        key="reset",
        on_click=_reset,
        args=(trainer,),
        help="Back to the same initial weights and batch order.",
    )
    return running

"""Playground: train an MLP live, watch the curves and the decision regions move."""

import numpy as np
import streamlit as st

from app.charts.training import confusion_heatmap, decision_regions, learning_curve
from app.controls import chart_height, config_summary, label, presentation_mode, show_chart, sidebar
from app.live import SPEEDS, advance, finish_epoch
from app.sample import sample_image
from app.session import dataset_or_stop, trainer_or_stop
from core.evaluation import confusion_matrix, decision_grid, points_frame

config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)
st.session_state.setdefault("running", False)

st.title("Playground")
st.caption(f"{data.summary()} · {config_summary(config)}")


def set_running(on):
    st.session_state.running = on


def reset():
    trainer.reset()
    st.session_state.running = False


# Callbacks act before the page is drawn, so every button shows the state after the click.
c_play, c_step, c_epoch, c_reset, c_speed = st.columns([1, 1, 1, 1, 2])
stuck = trainer.finished or bool(trainer.diverged)
if st.session_state.running:
    c_play.button("Pause", icon=":material/pause:", width="stretch", type="primary", key="pause",
                  on_click=set_running, args=(False,))  # fmt: skip
else:
    c_play.button("Play", icon=":material/play_arrow:", width="stretch", type="primary", key="play",
                  disabled=stuck, on_click=set_running, args=(True,))  # fmt: skip
idle = st.session_state.running or stuck
c_step.button("Step 1 batch", width="stretch", key="step_batch", disabled=idle, on_click=advance, args=(trainer,),
              kwargs={"steps": 1})  # fmt: skip
c_epoch.button("Step 1 epoch", width="stretch", key="step_epoch", disabled=idle, on_click=finish_epoch,
               args=(trainer,))  # fmt: skip
c_reset.button("Reset", icon=":material/restart_alt:", width="stretch", key="reset", on_click=reset,
               help="Back to the same initial weights and batch order.")  # fmt: skip
speed = (
    "normal"
    if presentation_mode()
    else c_speed.select_slider(
        "Play speed", list(SPEEDS), value="normal", key="speed", help="Epochs trained between two redraws (toy sets)."
    )
)
if config.batch_size >= len(data.y_train):
    st.caption(f"The batch size {config.batch_size} covers all {len(data.y_train):,} training samples: "
               "every step is full-batch gradient descent.")  # fmt: skip
show_test = data.image_shape is None and st.toggle("Show test points", value=False, key="show_test")


@st.fragment(run_every=0.35 if st.session_state.running else None)
def live_panel():
    if st.session_state.running:
        message = advance(trainer, epochs=SPEEDS[speed] if data.image_shape is None else 1)
        if message or trainer.finished:  # stop the timer: a full rerun redefines this fragment
            st.session_state.running = False
            st.rerun()
    if trainer.diverged:
        st.error(trainer.diverged, icon=":material/error:")
    elif trainer.finished:
        st.success(f"Finished {trainer.epoch} epoch{'s' * (trainer.epoch != 1)}. Raise *Epochs* in the sidebar to "
                   "go on from here, or reset.")  # fmt: skip

    h = trainer.history()
    last = h[h.epoch == trainer.epoch].set_index(["split", "metric"]).value if len(h) else None
    m = st.columns(4)
    m[0].metric("Epoch", f"{trainer.epoch} / {config.epochs}", help=f"{trainer.steps_per_epoch} mini-batches per epoch")
    m[1].metric("Steps", f"{trainer.global_step:,}")
    m[2].metric("Train loss", f"{last['train', 'loss']:.4g}" if last is not None else "–")
    m[3].metric("Validation accuracy", f"{last['validation', 'accuracy']:.1%}" if last is not None else "–")

    left, right = st.columns([3, 2] if data.image_shape is None else [1, 1])
    with right:
        steps = trainer.step_history()
        if len(steps):
            show_chart(learning_curve(h, "loss", chart_height(260), steps, trainer.steps_per_epoch))
            if len(h):
                show_chart(learning_curve(h, "accuracy", chart_height(260)))
            else:
                st.caption("Accuracy and validation loss appear when the first epoch ends.")
        else:
            st.info("Nothing trained yet: press Play, or step one batch or one epoch.")
    with left:
        if data.image_shape is None:
            grid = decision_grid(trainer.model.predict_proba, data, resolution=50 if presentation_mode() else 60)
            points = points_frame(data, ("train", "test") if show_test else ("train",))
            show_chart(decision_regions(grid, points, data.class_names, chart_height(460)))
        else:
            image_results(trainer)


def image_results(trainer):
    """A grid of test images with predicted and true labels, and the confusion matrix."""
    probs = trainer.model.predict_proba(trainer.X["test"])
    pred = probs.argmax(axis=1)
    n = 12 if presentation_mode() else 24
    zoom = max(1, 64 // data.image_shape[-1])  # crisp pixels: repeat, don't interpolate
    frame = [(4, 4), (4, 4)] + [(0, 0)] * (len(data.image_shape) - 2)  # a white margin between images
    images = [np.pad(sample_image(data, data.X_test[i]).repeat(zoom, 0).repeat(zoom, 1), frame, constant_values=1.0)
              for i in range(n)]  # fmt: skip
    names = data.class_names
    captions = [
        f"{'✓' if pred[i] == data.y_test[i] else '✗'} {names[pred[i]]} (true {names[data.y_test[i]]})" for i in range(n)
    ]
    st.image(images, caption=captions, width=96 if presentation_mode() else 72, clamp=True)
    show_chart(confusion_heatmap(confusion_matrix(data.y_test, pred, names), chart_height(360)))


live_panel()

picture = (
    "The coloured background is the class the network predicts at each point of the plane, paler where it is "
    "less sure; watch it bend around the data as training runs."
    if data.image_shape is None
    else "The images are the first test images with the predicted class (✓ right, ✗ wrong) and the true one; the "
    "confusion matrix counts every test image by true and predicted class."
)
with st.expander("What am I looking at?", expanded=not presentation_mode()):
    st.markdown(
        "Each **step** takes one mini-batch: a forward pass, the loss, the backward pass, and one "
        f"{label(config.optimizer)} update. An **epoch** is one pass over the training set, after which the "
        f"validation accuracy is measured. {picture} The loss axis is logarithmic, so early and late progress "
        "both show. **Reset** returns to exactly the same initial weights (same seed), so a run can be replayed. "
        "If the learning rate is too high the loss becomes NaN: the run stops and says so."
    )

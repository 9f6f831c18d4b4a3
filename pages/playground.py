"""Playground: train an MLP live, watch the curves and the decision regions move."""

import numpy as np
import streamlit as st

from app.charts.display import chart_height, presentation_mode, show_chart
from app.charts.training import confusion_heatmap, decision_regions, learning_curve
from app.controls import config_summary, label, sidebar
from app.export import reopened_run, run_downloads, run_upload
from app.live import EPOCH, SPEEDS, TIME_BUDGET_S, advance, run_metrics, train_to_epoch
from app.session import dataset_or_stop, run_status, trainer_or_stop
from app.transport import transport
from core.analysis.text.notation import INDEX_CONVENTION
from core.analysis.traces.evaluation import confusion_matrix, decision_grid, points_frame
from core.data.images import tile

config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)
is_plane = data.n_features == 2

st.title("Playground")
st.caption(f"{config_summary(config)}  \n{data.sizes()}. {INDEX_CONVENTION}")
controls, speed_box = st.columns([4, 2])
running = transport(trainer, controls)
speed = (
    "normal"
    if presentation_mode()
    else speed_box.select_slider(
        "Play speed", list(SPEEDS), value="normal", key="speed", help="Epochs trained between two redraws (2-D data)."
    )
)
if config.batch_size >= len(data.y_train):
    st.caption(
        f"The batch size {config.batch_size} covers all {len(data.y_train):,} training samples: "
        "every step is full-batch gradient descent."
    )
show_test = is_plane and st.toggle("Show test points", value=False, key="show_test")


@st.fragment(run_every=0.35 if running else None)
def live_panel():
    if st.session_state.running == EPOCH:  # "Step 1 epoch" on a long epoch: the next slice of it
        if train_to_epoch(trainer, st.session_state.epoch_target, TIME_BUDGET_S):
            st.session_state.running = False
            st.rerun()
    elif st.session_state.running:
        message = advance(trainer, epochs=SPEEDS[speed] if is_plane else 1)
        if message or trainer.finished:  # stop the timer: a full rerun redefines this fragment
            st.session_state.running = False
            st.rerun()
    run_status(trainer)
    if trainer.finished and not trainer.diverged:
        st.success(
            f"Finished {trainer.epoch} epoch{'s' * (trainer.epoch != 1)}. Raise *Epochs* in the sidebar to "
            "go on from here, or reset."
        )
    for box, (name, value, help_text) in zip(st.columns(4), run_metrics(trainer)):
        box.metric(name, value, help=help_text)

    left, right = st.columns([1, 1])
    with right:
        steps, h = trainer.step_history(), trainer.history()
        if len(steps):
            show_chart(learning_curve(h, "loss", chart_height(330), steps, trainer.steps_per_epoch), name="loss")
            if len(h):
                show_chart(learning_curve(h, "accuracy", chart_height(330)), name="accuracy")
            elif trainer.diverged:
                st.caption("No epoch finished before the run diverged: there is no accuracy or validation loss.")
            else:
                st.caption("Accuracy and validation loss appear when the first epoch ends.")
        else:
            st.info("Nothing trained yet: press Play, or step one batch or one epoch.")
    with left:
        if is_plane:
            grid = decision_grid(trainer.predict_proba, data, resolution=50 if presentation_mode() else 60)
            points = points_frame(data, ("train", "test") if show_test else ("train",))
            show_chart(decision_regions(grid, points, data.class_names, chart_height(520)), name="decision-regions")
            if not grid.finite.all():
                st.warning(
                    f"The network's output is NaN or ∞ on {1 - grid.finite.mean():.0%} of the plane (its "
                    "numbers overflow there), so those regions are left blank.",
                    icon=":material/blur_off:",
                )
            return
        probs = trainer.predict_proba("test")
        if not np.isfinite(probs).all():
            st.info(
                "The network's output is NaN or ∞ on the test set (its numbers overflow): there are no "
                "predictions to count.",
                icon=":material/blur_off:",
            )
            return
        pred = probs.argmax(axis=1)
        if data.image_shape is not None:
            n = 12 if presentation_mode() else 24
            st.image(
                [tile(data.image(x)) for x in data.X_test[:n]],
                width=96 if presentation_mode() else 72,
                caption=[
                    f"{'✓' if p == y else '✗'} {data.class_names[p]} (true {data.class_names[y]})"
                    for p, y in zip(pred[:n], data.y_test[:n])
                ],
                clamp=True,
            )
        cm = confusion_matrix(data.y_test, pred, data.class_names)
        show_chart(confusion_heatmap(cm, chart_height(420)), name="confusion-matrix")


live_panel()

with st.expander("Save this run, or reopen a saved one", icon=":material/save:"):
    run_downloads(trainer, f"{config.dataset} run")
    saved = run_upload()
    if saved is not None:
        st.caption(reopened_run(saved, trainer))

picture = (
    "The coloured background is the class the network predicts at each point of the plane, paler where it is "
    "less sure; watch it bend around the data as training runs."
    if is_plane
    else "The confusion matrix counts every test sample by true class (row) and predicted class (column)."
)
with st.expander("What am I looking at?", expanded=not presentation_mode()):
    st.markdown(
        "Each **step** takes one mini-batch: a forward pass, the loss, the backward pass, and one "
        f"{label(config.optimizer)} update. An **epoch** is one pass over the training set, after which the "
        f"validation accuracy is measured. {picture} The loss axis is logarithmic, so early and late progress "
        "both show; the faint grey line is the loss of each mini-batch. **Reset** returns to exactly the same "
        "initial weights (same seed), so a run can be replayed. If the learning rate is too high the loss "
        "becomes NaN: the run stops and says so."
    )

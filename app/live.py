"""Running a Trainer in short slices, so the page can redraw between them, and the numbers shown between."""

import time

from core.training.trainer import TrainingDiverged

SPEEDS = {"slow": 0.25, "normal": 1.0, "fast": 4.0}  # epochs per redraw (toy sets)
TIME_BUDGET_S = 0.4  # at most this long between redraws, whatever the speed
CLICK_BUDGET_S = 1.0  # a button's own work; a longer epoch goes on in the live panel, redrawing between slices
EPOCH = "epoch"  # st.session_state.running while "Step 1 epoch" finishes its epoch in slices


def advance(trainer, epochs=None, steps=None, budget_s=TIME_BUDGET_S):
    """Train for ``epochs`` epochs or ``steps`` mini-batches, stopping early after ``budget_s``
    seconds or at the end of the run. Returns the divergence message, or None."""
    target = steps if steps is not None else max(1, round(epochs * trainer.steps_per_epoch))
    t0 = time.perf_counter()
    try:
        for _ in range(target):
            if trainer.finished:
                break
            trainer.step()
            if time.perf_counter() - t0 > budget_s:
                break
    except TrainingDiverged as e:
        return str(e)
    return None


def train_to_epoch(trainer, target, budget_s=CLICK_BUDGET_S):
    """Train until ``target`` epochs are done, for at most ``budget_s`` seconds.

    Returns True when the target is reached (or the run finished or diverged), False when steps are
    left: the caller goes on in slices (the Playground's live panel), so a long epoch never holds the
    server for one student.
    """
    try:
        t0 = time.perf_counter()
        while trainer.epoch < target and not trainer.finished:
            trainer.step()
            if time.perf_counter() - t0 > budget_s:
                break
    except TrainingDiverged:
        return True
    return trainer.epoch >= target or trainer.finished


def run_metrics(trainer):
    """The live panel's numbers, [(label, value, help), …]: epochs done, steps, the last epoch's losses.

    After a divergence they describe the steps that were kept (the message names the step that failed).
    """
    last = trainer.last_metrics()
    steps_help = f"{trainer.steps_per_epoch} mini-batches per epoch"
    return [
        ("Epochs done", f"{trainer.epoch} / {trainer.config.epochs}", steps_help),
        ("Steps", f"{trainer.global_step:,}", "Mini-batches trained (updates of the weights)."),
        ("Train loss", f"{last['train_loss']:.4g}" if last else "–", "Mean loss over the last finished epoch."),
        ("Validation accuracy", f"{last['val_accuracy']:.1%}" if last else "–", "After the last finished epoch."),
    ]

"""Two experiments made of whole training runs, each without and with batch norm from the same seeded weights
and batch order (``core.analysis.batchnorm.study``): learning-rate sensitivity and the assignment's experiment.

Both check their size before training anything and report progress as ``progress(done, total)`` epochs.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from core.analysis.batchnorm.study import (
    RUNS,
    StudyError,
    check_epochs,
    paired_configs,
    progress_ticker,
    train_subset,
    train_to_end,
)
from core.training.config import MAX_LR, TrainConfig
from core.training.trainer import Trainer

LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # the sweep's default rates, log-spaced
MAX_RATES = 12  # learning rates in one sweep
COURSE_RECIPE = TrainConfig()  # 1 × 128 ELU, SGD lr 0.1, batch 128, 10 epochs, seed 42 (the defaults)


def lr_sensitivity(data, config, rates=LR_GRID, epochs=10, max_train=None, progress=None):
    """Final validation accuracy against the learning rate, without and with batch norm.

    Each (rate, run) trains ``config`` with that learning rate from the same seeded weights. A run that
    diverges counts with its last finite validation accuracy (chance, 1/C, if no epoch finished) and is
    flagged. The size is checked before anything runs: at most MAX_RATES rates, MAX_STUDY_EPOCHS epochs.

    Returns a DataFrame: run, lr, val_accuracy, val_loss (NaN when no epoch finished), epochs_done, diverged.
    ``progress(done, total)`` is called after every epoch of every run.
    """
    rates = [float(r) for r in rates]
    if not 1 <= len(rates) <= MAX_RATES:
        raise StudyError(f"a sweep takes 1 to {MAX_RATES} learning rates, got {len(rates)}")
    if not all(np.isfinite(r) and 0 < r <= MAX_LR for r in rates):
        raise StudyError(f"learning rates must be in (0, {MAX_LR:g}], got {rates}")
    check_epochs(epochs)
    data = train_subset(data, max_train, test=False)
    tick = progress_ticker(progress, 2 * len(rates) * epochs)
    rows = []
    for lr in rates:
        for run, run_config in zip(RUNS, paired_configs(replace(config, lr=lr, epochs=epochs))):
            trainer = Trainer(data, run_config)
            diverged = train_to_end(trainer, tick=tick) is not None
            last = trainer.last_metrics()
            acc, loss = (last["val_accuracy"], last["val_loss"]) if last else (1 / data.n_classes, np.nan)
            rows.append(
                {
                    "run": run,
                    "lr": lr,
                    "val_accuracy": acc,
                    "val_loss": loss,
                    "epochs_done": trainer.epoch,
                    "diverged": diverged,
                }
            )
    return pd.DataFrame(rows)


def sweep_summary(sweep, within=0.9):
    """The key figures of ``lr_sensitivity`` per run: best_lr, best_accuracy, good_rates (how many rates reach
    ``within`` × the best accuracy of either run), diverged (how many runs diverged)."""
    target = within * sweep["val_accuracy"].max()
    rows = []
    for run in RUNS:
        r = sweep[sweep["run"] == run]
        best = r.loc[r["val_accuracy"].idxmax()]
        rows.append(
            {
                "run": run,
                "best_lr": best["lr"],
                "best_accuracy": best["val_accuracy"],
                "good_rates": int((r["val_accuracy"] >= target).sum()),
                "diverged": int(r["diverged"].sum()),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CourseResult:
    """The assignment's experiment: the course network without and with batch norm after its hidden layer."""

    history: pd.DataFrame  # run, epoch, split, metric, value
    test: pd.DataFrame  # run, test_accuracy, test_loss (best-on-validation weights), best_epoch,
    #                     final_val_accuracy, diverged (message or None)


def course_experiment(data, config=COURSE_RECIPE, max_train=None, progress=None):
    """The assignment's batch-norm question by experiment: 1 × 128 ELU, SGD lr 0.1, batch 128, 10 epochs,
    seed 42 (``COURSE_RECIPE``), trained without and then with batch norm after the hidden layer.

    The test accuracy is that of the best-on-validation weights (``Trainer.test_metrics``).
    ``config`` and ``max_train`` shrink it for tests; ``progress(done, total)`` after every epoch.
    """
    check_epochs(config.epochs)
    data = train_subset(data, max_train)
    tick = progress_ticker(progress, 2 * config.epochs)
    histories, rows = [], []
    for run, run_config in zip(RUNS, paired_configs(config)):
        trainer = Trainer(data, run_config)
        diverged = train_to_end(trainer, tick=tick)
        test, last = trainer.test_metrics(), trainer.last_metrics() or {"val_accuracy": np.nan}
        histories.append(trainer.history().assign(run=run))
        rows.append(
            {
                "run": run,
                "test_accuracy": test["test_accuracy"],
                "test_loss": test["test_loss"],
                "best_epoch": test["best_epoch"],
                "final_val_accuracy": last["val_accuracy"],
                "diverged": diverged,
            }
        )
    history = pd.concat(histories, ignore_index=True)[["run", "epoch", "split", "metric", "value"]]
    return CourseResult(history, pd.DataFrame(rows))

"""Course questions 1 and 2: the NumPy MLP with the course recipe, and its PyTorch twin from the same weights.

See ``core.analysis.course.questions`` for what an ``Answer`` holds.
"""

import math

import pandas as pd

from core.analysis.backend_compare import BACKEND_LABELS, compare_backends
from core.analysis.batchnorm.experiments import COURSE_RECIPE
from core.analysis.batchnorm.study import progress_ticker, train_to_end
from core.analysis.course.questions import Answer, CourseError, Link, data_name, pct, recipe_query, small
from core.analysis.text.notation import SUPERSCRIPTS
from core.data import load_dataset
from core.threads import one_thread
from core.training.config import validate
from core.training.trainer import Trainer

COURSE_CIFAR10 = (0.47, 0.48)  # the test accuracy the course reports for its recipe on CIFAR-10


# ---- 1. the NumPy MLP with the course recipe ----


def numpy_recipe(data, config=COURSE_RECIPE, progress=None):
    """Q1: the NumPy MLP trained with the course recipe on ``data``; loss curves and test accuracy.

    Args:
        data: a ``core.data.Dataset`` (the page passes digits, MNIST or CIFAR-10).
        config: a ``TrainConfig``; the course recipe (1 × 128 ELU, SGD lr 0.1, batch 128, 10 epochs, seed 42).
        progress: ``progress(done, total)`` after every epoch.

    Returns an ``Answer`` whose frame is the run's history (epoch, split, metric, value).
    """
    config = validate(config.replace(backend="numpy"), data.n_features, data.n_classes)
    trainer = Trainer(data, config)
    with one_thread(small(data)):
        diverged = train_to_end(trainer, tick=progress_ticker(progress, config.epochs))
        test, history = trainer.test_metrics(), trainer.history()
    loss = history[(history.metric == "loss") & (history.split == "train")].set_index("epoch")["value"]
    val = history[(history.metric == "accuracy") & (history.split == "validation")].set_index("epoch")["value"]
    if loss.empty:
        raise CourseError(f"the run diverged in its first epoch: {diverged}")
    figures = {
        "test_accuracy": test["test_accuracy"],
        "test_loss": test["test_loss"],
        "best_epoch": test["best_epoch"],
        "first_train_loss": float(loss.iloc[0]),
        "last_train_loss": float(loss.iloc[-1]),
        "last_val_accuracy": float(val.iloc[-1]),
        "epochs": int(loss.index[-1]),
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
    }
    f = figures
    answer = (
        f"On {data_name(data)} ({f['n_train']:,} training images), the training loss falls from "
        f"**{f['first_train_loss']:.3f}**"
        f" after epoch 1 to **{f['last_train_loss']:.3f}** after epoch {f['epochs']}, and the validation accuracy "
        f"ends at {pct(f['last_val_accuracy'])}. With the weights of its best validation epoch ({f['best_epoch']}) it "
        f"classifies **{pct(f['test_accuracy'], 2)}** of the {f['n_test']:,} test images correctly."
    )
    lo, hi = COURSE_CIFAR10
    if data.name == "cifar10":
        where = "inside" if lo - 0.005 <= f["test_accuracy"] <= hi + 0.005 else "outside"
        answer += f" The course expects about {pct(lo, 0)}–{pct(hi, 0)} on CIFAR-10: this run is {where} that range."
    else:
        answer += (
            f" The course's {pct(lo, 0)}–{pct(hi, 0)} is for CIFAR-10 (32 × 32 colour photographs of 10 kinds of "
            "object); choose CIFAR-10 in the sidebar where its files are present to compare."
        )
    if diverged:
        answer += f" {diverged}"
    method = (
        f"The NumPy MLP (hand-derived backward), {config.dtype}, trained by the app's `Trainer` for "
        f"{config.epochs} epochs of {trainer.steps_per_epoch} mini-batches; test accuracy with the "
        "best-on-validation weights."
    )
    links = (
        Link("playground", "Train it live on the Playground", recipe_query(config, data.name)),
        Link("forward", "Follow one image through it", recipe_query(config, data.name)),
        Link("backward", "Its gradients, layer by layer", recipe_query(config, data.name)),
    )
    return Answer(1, answer, method, figures, history, links)


# ---- 2. the PyTorch twin from the same weights ----


def pytorch_twin(data=None, config=COURSE_RECIPE, steps=None, progress=None):
    """Q2: NumPy and PyTorch trained in lockstep from the same weights on the same batches, float64 and float32.

    Args:
        data: a ``Dataset`` (the digits when None); config: the recipe; steps: training steps (all epochs by
        default, at most ``core.analysis.backend_compare.MAX_STEPS``).

    Returns an ``Answer`` whose frame is |PyTorch loss − NumPy loss| per step (step, dtype, backend, abs_diff).
    """
    data = load_dataset("digits") if data is None else data
    per_epoch = -(-len(data.y_train) // config.batch_size)
    steps = min(2_000, config.epochs * per_epoch) if steps is None else steps
    tick = progress_ticker(progress, 2)
    runs = {}
    for dtype in ("float64", "float32"):
        with one_thread(small(data), torch=True):
            runs[dtype] = compare_backends(data, config.replace(dtype=dtype), steps)
        tick()
    frame = pd.concat(
        [
            run.loss_diffs.assign(dtype=d, backend=run.loss_diffs["backend"].map(BACKEND_LABELS))
            for d, run in runs.items()
        ],
        ignore_index=True,
    )
    figures = {"steps": steps}
    for d, run in runs.items():
        last = run.evals[run.evals["step"] == run.evals["step"].max()].set_index("backend")["accuracy"]
        figures |= {
            f"max_loss_diff_{d}": float(run.loss_diffs["abs_diff"].max()),
            f"max_weight_diff_{d}": float(run.weight_diffs["max_abs_diff"].max()),
            f"max_grad_diff_{d}": float(run.grad_diffs["max_abs_diff"].max()),
            f"val_accuracy_numpy_{d}": float(last["numpy"]),
            f"val_accuracy_torch_{d}": float(last["torch"]),
        }
    f = figures
    if f["max_loss_diff_float64"] == 0:
        more = "float64 agreeing to the last bit"
    else:
        ratio = f["max_loss_diff_float32"] / f["max_loss_diff_float64"]
        power = str(round(math.log10(ratio))).translate(SUPERSCRIPTS) if ratio >= 10 else ""
        more = f"about 10{power} times more" if power else f"{ratio:.2g}× more"
    answer = (
        f"From the same initial weights, on the same {steps:,} mini-batches of {data_name(data)}, the two backends "
        f"trace the same curves: PyTorch's mini-batch losses differ from NumPy's by at most "
        f"**{f['max_loss_diff_float64']:.1e} in float64** and **{f['max_loss_diff_float32']:.1e} in float32** "
        f"({more}); after the last step the weights differ by at most {f['max_weight_diff_float64']:.1e} "
        f"and {f['max_weight_diff_float32']:.1e}, and the validation accuracy is "
        f"{pct(f['val_accuracy_numpy_float32'])} "
        f"(NumPy) and {pct(f['val_accuracy_torch_float32'])} (PyTorch) in float32. Both compute the same sums in a "
        "different order, so they round differently: float64 keeps about 16 significant digits, float32 about 7, and "
        "each step starts from the weights the previous step's round-off left."
    )
    method = (
        f"`compare_backends`: the hand-derived NumPy MLP and the PyTorch twin (autograd) trained step by step "
        f"in lockstep, {steps:,} steps in each precision; largest gradient difference over every step: "
        f"{f['max_grad_diff_float64']:.1e} (float64), {f['max_grad_diff_float32']:.1e} (float32)."
    )
    query = recipe_query(config, data.name, dtype="float64")
    links = (
        Link("backends", "NumPy vs PyTorch, step by step", query),
        Link("backward", "Hand gradients next to autograd's", query),
    )
    return Answer(2, answer, method, figures, frame, links)

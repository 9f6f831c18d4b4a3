"""The origin courses' questions, and what every answer shares: the ``Answer``, its links, and small helpers.

Each question is one function that runs its experiment (small and fast by default) and returns an ``Answer``: the
question in a sentence, the answer written from the numbers just measured (never prepared text with numbers in it),
the key figures, a tidy DataFrame for its chart, and links that open the app's views preset to explore further.
The experiments are grouped by topic: training and the PyTorch twin (1–2) in ``core.analysis.course_training``,
curvature and saddles (3–5) in ``core.analysis.course_curvature``, batch norm (6–11) in
``core.analysis.course_batchnorm``, gradient checkpointing (12) in ``core.analysis.course_checkpointing``.

A link is (view, label, query): the view's address (``app.views.View.url_path``: "playground", "batch-norm", …)
and the app's URL keys (``app.settings.AppConfig``: dataset, depth, width, activation, batch_norm, optimizer, lr,
batch_size, epochs, seed, backend, dtype, n_samples, noise) as strings.

Progress: every experiment that takes a while accepts ``progress(done, total)``.
"""

import contextlib
import sys
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

DATA_NAMES = {"digits": "the 8×8 digits", "mnist": "MNIST", "cifar10": "CIFAR-10"}  # the image sets, in a sentence


class CourseError(ValueError):
    """An experiment that cannot run as asked; the message is one line a user can act on."""


class Link(NamedTuple):
    """A link to a view, preset: its address (``View.url_path``), the link's text, and the URL query (strings)."""

    view: str
    label: str
    query: dict


# The questions, in our own words, numbered as the page lists them.
QUESTIONS = {
    1: "How well does the course's NumPy MLP learn with the course recipe (1 × 128 ELU, SGD, learning rate 0.1, "
    "batch 128, 10 epochs, seed 42), and what test accuracy does it reach?",
    2: "Started from the same weights, does the PyTorch twin (autograd) follow the NumPy MLP's curves, and how close "
    "are the two in float64 and in float32?",
    3: "At a local minimum of the loss, why must every eigenvalue of the Hessian be ≥ 0, and is that what we measure?",
    4: "As the number of parameters grows, why are critical points of the loss almost always saddles rather than "
    "minima?",
    5: "Near a saddle point, which directions does gradient descent shrink and which does it grow, and why does "
    "escaping take so long?",
    6: "What are the gradients of batch norm's γ and β for one unit, and do they agree with autograd?",
    7: "How many parameters does batch norm add to a layer, and which of its numbers are buffers instead?",
    8: "Why does batch norm use running statistics at inference, and what would go wrong with the batch's own "
    "statistics?",
    9: "At a high learning rate, how many ReLU units die, without and with batch norm?",
    10: "How does batch norm keep units alive and their inputs well scaled during training?",
    11: "What does batch norm after the hidden layer change for the course network: its accuracy, and how fast it "
    "converges?",
    12: "How much activation memory does gradient checkpointing save as the network gets deeper, and what does it "
    "cost in time?",
}


@dataclass(frozen=True)
class Answer:
    """Question ``number`` (of ``QUESTIONS``) answered by its experiment.

    ``answer`` and ``method`` are Markdown written from the measured numbers; ``figures`` holds the key numbers as
    plain floats and ints (what a test asserts on); ``frame`` is the tidy data of the answer's chart; ``latex`` are
    equations to show with it (may be empty).
    """

    number: int
    answer: str
    method: str
    figures: dict
    frame: pd.DataFrame
    links: tuple
    latex: tuple = field(default=())

    @property
    def question(self):
        return QUESTIONS[self.number]


def recipe_query(config, dataset, **extra):
    """The URL query of ``config`` (a ``TrainConfig`` with equal hidden widths) on ``dataset``, plus ``extra``."""
    width = config.hidden_dims[0] if config.hidden_dims else 1  # the app's width of a net without hidden layers
    query = {"dataset": dataset, "depth": len(config.hidden_dims), "width": width, "activation": config.activation,
             "batch_norm": int(config.batch_norm), "optimizer": config.optimizer, "lr": config.lr,
             "batch_size": config.batch_size, "epochs": config.epochs, "seed": config.seed, "backend": config.backend,
             "dtype": config.dtype}  # fmt: skip
    return {k: str(v) for k, v in {**query, **extra}.items()}


@contextlib.contextmanager
def few_threads(enabled=True):
    """One BLAS thread and one torch thread while the block runs (when ``enabled``), restored after it.

    The experiments here are many small matrix products: on a busy CPU a second thread of OpenBLAS or torch only
    waits for the first, and the two pools spin against each other (NumPy vs PyTorch on the digits, 100 steps in each
    precision: 23 s with the default threads, 0.5 s with one each, measured on 2 busy cores). OpenBLAS is limited
    through threadpoolctl where it is installed; torch only where it is already imported.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    torch = sys.modules.get("torch")
    n_threads = torch.get_num_threads() if torch is not None else None
    if enabled and torch is not None:
        torch.set_num_threads(1)
    try:
        with (
            threadpool_limits(limits=1, user_api="blas") if enabled and threadpool_limits else contextlib.nullcontext()
        ):
            yield
    finally:
        if n_threads is not None:
            torch.set_num_threads(n_threads)


def small(data):
    """True for a data set whose products one thread does best (up to the digits' 64 features)."""
    return data.n_features <= 256


def data_name(data):
    return DATA_NAMES.get(data.name, data.name)


def pct(x, digits=1):
    """0.9694 → "96.9 %"."""
    return f"{100 * x:.{digits}f} %"

"""The origin courses' questions, and what every answer shares: the ``Answer``, its links, and small helpers.

Each question is one function that runs its experiment (small and fast by default) and returns an ``Answer``: the
question in a sentence, the answer written from the numbers just measured (never prepared text with numbers in it),
the key figures, a tidy DataFrame for its chart, and links that open the app's views preset to explore further.
The experiments are grouped by topic: training and the PyTorch twin (1–2) in ``core.analysis.course.training``,
curvature and saddles (3–5) in ``core.analysis.course.curvature``, batch norm (6–11) in
``core.analysis.course.batchnorm``, gradient checkpointing (12) in ``core.analysis.course.checkpointing``;
``core.analysis.course.catalog`` holds each question once: its text, its experiment and its data.

A link is (view, label, query): the view's address (``app.views.View.url_path``: "playground", "batch-norm", …)
and the app's URL keys (``core.links.AppConfig``: dataset, depth, width, activation, batch_norm, optimizer, lr,
batch_size, epochs, seed, backend, dtype, n_samples, noise) as strings.

Progress: every experiment that takes a while accepts ``progress(done, total)``.
"""

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


@dataclass(frozen=True)
class Answer:
    """Question ``number`` (``core.analysis.course.catalog.QUESTIONS``) answered by its experiment.

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


def recipe_query(config, dataset, **extra):
    """The URL query of ``config`` (a ``TrainConfig`` with equal hidden widths) on ``dataset``, plus ``extra``."""
    width = config.hidden_dims[0] if config.hidden_dims else 1  # the app's width of a net without hidden layers
    query = {
        "dataset": dataset,
        "depth": len(config.hidden_dims),
        "width": width,
        "activation": config.activation,
        "batch_norm": int(config.batch_norm),
        "optimizer": config.optimizer,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "seed": config.seed,
        "backend": config.backend,
        "dtype": config.dtype,
    }
    return {k: str(v) for k, v in {**query, **extra}.items()}


def small(data):
    """True for a data set whose products one thread does best (up to the digits' 64 features)."""
    return data.n_features <= 256


def data_name(data):
    return DATA_NAMES.get(data.name, data.name)


def pct(x, digits=1):
    """0.9694 → "96.9 %"."""
    return f"{100 * x:.{digits}f} %"

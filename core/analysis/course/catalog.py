"""The origin courses' questions, each once: its text, the experiment that answers it, and the data it runs on.

A page lists ``QUESTIONS`` in order and runs ``question.run(data, progress)``; the ``Answer`` it returns
(``core.analysis.course.questions``) carries the numbers, the text written from them, and the chart's data.
"""

from collections.abc import Callable
from dataclasses import dataclass

from core.analysis.course.batchnorm import (
    bn_histograms,
    bn_inference,
    bn_parameters,
    course_batchnorm,
    dead_relus,
    gamma_beta_gradients,
)
from core.analysis.course.checkpointing import checkpoint_savings
from core.analysis.course.curvature import coin_flip, hessian_at_minimum, saddle_escape
from core.analysis.course.training import numpy_recipe, pytorch_twin

DATA = ("chosen", "digits", "none")  # the sidebar's image set, the 8×8 digits, or no data set (toy problems)


@dataclass(frozen=True)
class Question:
    """One question of the courses, in our own words, and how it is answered."""

    number: int
    text: str
    run: Callable  # run(data, progress) → Answer; progress(done, total) or None
    data: str  # one of DATA: what ``run`` is given


QUESTIONS = {
    q.number: q
    for q in [
        Question(
            1,
            (
                "How well does the course's NumPy MLP learn with the course recipe (1 × 128 ELU, SGD, learning rate "
                "0.1, batch 128, 10 epochs, seed 42), and what test accuracy does it reach?"
            ),
            lambda data, progress: numpy_recipe(data, progress=progress),
            "chosen",
        ),
        Question(
            2,
            (
                "Started from the same weights, does the PyTorch twin (autograd) follow the NumPy MLP's curves, and "
                "how close are the two in float64 and in float32?"
            ),
            lambda data, progress: pytorch_twin(data, progress=progress),
            "digits",
        ),
        Question(
            3,
            (
                "At a local minimum of the loss, why must every eigenvalue of the Hessian be ≥ 0, and is that what we"
                " measure?"
            ),
            lambda data, progress: hessian_at_minimum(progress=progress),
            "none",
        ),
        Question(
            4,
            (
                "As the number of parameters grows, why are critical points of the loss almost always saddles rather "
                "than minima?"
            ),
            lambda data, progress: coin_flip(),
            "none",
        ),
        Question(
            5,
            (
                "Near a saddle point, which directions does gradient descent shrink and which does it grow, and why "
                "does escaping take so long?"
            ),
            lambda data, progress: saddle_escape(),
            "none",
        ),
        Question(
            6,
            "What are the gradients of batch norm's γ and β for one unit, and do they agree with autograd?",
            lambda data, progress: gamma_beta_gradients(data),
            "digits",
        ),
        Question(
            7,
            "How many parameters does batch norm add to a layer, and which of its numbers are buffers instead?",
            lambda data, progress: bn_parameters(),
            "none",
        ),
        Question(
            8,
            (
                "Why does batch norm use running statistics at inference, and what would go wrong with the batch's "
                "own statistics?"
            ),
            lambda data, progress: bn_inference(data),
            "digits",
        ),
        Question(
            9,
            "At a high learning rate, how many ReLU units die, without and with batch norm?",
            lambda data, progress: dead_relus(data, progress=progress),
            "digits",
        ),
        Question(
            10,
            "How does batch norm keep units alive and their inputs well scaled during training?",
            lambda data, progress: bn_histograms(data, progress=progress),
            "digits",
        ),
        Question(
            11,
            (
                "What does batch norm after the hidden layer change for the course network: its accuracy, and how "
                "fast it converges?"
            ),
            lambda data, progress: course_batchnorm(data, progress=progress),
            "chosen",
        ),
        Question(
            12,
            (
                "How much activation memory does gradient checkpointing save as the network gets deeper, and what "
                "does it cost in time?"
            ),
            lambda data, progress: checkpoint_savings(progress=progress),
            "none",
        ),
    ]
}

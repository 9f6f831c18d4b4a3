"""Course questions: the two origin courses' questions, each answered by an experiment run with one click."""

from contextlib import contextmanager
from dataclasses import replace

import streamlit as st

from app.charts.course import answer_chart
from app.charts.display import chart_height, show_chart
from app.controls import DATA_DIR, label, sidebar
from app.session import dataset_or_stop
from app.settings import from_query, to_query
from app.views import VIEWS
from core.analysis.course_batchnorm import (
    bn_histograms,
    bn_inference,
    bn_parameters,
    course_batchnorm,
    dead_relus,
    gamma_beta_gradients,
)
from core.analysis.course_checkpointing import checkpoint_savings
from core.analysis.course_curvature import coin_flip, hessian_at_minimum, saddle_escape
from core.analysis.course_questions import QUESTIONS
from core.analysis.course_training import numpy_recipe, pytorch_twin
from core.data import IMAGE_DATASETS, files_present

# number → the experiment, called with (the data set it runs on, progress(done, total))
EXPERIMENTS = {
    1: lambda data, progress: numpy_recipe(data, progress=progress),
    2: lambda data, progress: pytorch_twin(data, progress=progress),
    3: lambda data, progress: hessian_at_minimum(progress=progress),
    4: lambda data, progress: coin_flip(),
    5: lambda data, progress: saddle_escape(),
    6: lambda data, progress: gamma_beta_gradients(data),
    7: lambda data, progress: bn_parameters(),
    8: lambda data, progress: bn_inference(data),
    9: lambda data, progress: dead_relus(data, progress=progress),
    10: lambda data, progress: bn_histograms(data, progress=progress),
    11: lambda data, progress: course_batchnorm(data, progress=progress),
    12: lambda data, progress: checkpoint_savings(progress=progress),
}
ON_CHOSEN_SET = (1, 11)  # the questions on the sidebar's image set; the others run on the digits
PATHS = {view.url_path: view.path for view in VIEWS}


@contextmanager
def progress_bar(text):
    """A progress bar while the block runs, removed after it; yields the ``progress(done, total)`` callback."""
    box = st.empty()
    bar = box.progress(0.0, text=text)
    yield lambda done, total: bar.progress(min(done / total, 1.0), text=f"{text} ({done} of {total})")
    box.empty()


@st.cache_data(max_entries=32, show_spinner=False)
def cached_answer(number, data_name, _data):
    """Question ``number``'s answer on the data set ``data_name`` (cached by both; the progress bar replays)."""
    with progress_bar(f"Question {number}: running the experiment…") as progress:
        return EXPERIMENTS[number](_data, progress)


def mark_run(*numbers):
    st.session_state.setdefault("course_run", set()).update(numbers)


def show(answer):
    """The answer in numbers, its equations, its chart, how it was measured, and links to explore further."""
    st.markdown(answer.answer)
    for line in answer.latex:
        st.latex(line)
    show_chart(answer_chart(answer, chart_height), name=f"course-question-{answer.number}")
    st.caption(answer.method)
    for link in answer.links:
        query = to_query(from_query(link.query)[0])  # the short form, as the app writes it
        st.page_link(PATHS[link.view], label=link.label, icon=":material/open_in_new:", query_params=query or None)


config = sidebar()
st.title("Course questions")
chosen = config.dataset if config.dataset in IMAGE_DATASETS and files_present(config.dataset, DATA_DIR) else "digits"
image_data = dataset_or_stop(replace(config, dataset=chosen))
digits = image_data if chosen == "digits" else dataset_or_stop(replace(config, dataset="digits"))
if chosen == config.dataset:
    why = ""
elif config.dataset in IMAGE_DATASETS:
    why = f" ({label(config.dataset)}'s files are not in the data folder)"
else:
    why = f" (the sidebar's {label(config.dataset)} is not an image set)"
st.markdown(
    "The questions of the two courses this lab comes from: the Amsterdam MLP assignment (a NumPy MLP with "
    "hand-derived backprop, its PyTorch twin, batch norm, saddle points) and the Warsaw homework (gradient "
    "checkpointing). Each answer is an experiment: open a question, press **Run the experiment**, and read the "
    "answer in the numbers just measured, with a chart and links that open a view preset to explore further."
)
slow = "" if chosen == "digits" else f" ({len(image_data.y_train):,} training images: minutes on a laptop CPU)"
st.caption(f"Questions 1 and 11 run on **{label(chosen)}**{why}{slow}; pick MNIST or CIFAR-10 in the sidebar (where "
           "its files are present) to run them there. The others run on the 8×8 digits or on toy problems.")  # fmt: skip
took = "a few seconds" if chosen == "digits" else f"minutes: 1 and 11 train on {label(chosen)}"
st.button(f"Run all twelve experiments ({took})", key="w_course_run_all", on_click=mark_run, args=tuple(QUESTIONS))

done = st.session_state.get("course_run", set())
for number, question in QUESTIONS.items():
    with st.expander(f"**{number}.** {question}", expanded=number in done):
        if number not in done:
            st.button("Run the experiment", key=f"w_course_run_{number}", type="primary", on_click=mark_run,
                      args=(number,))  # fmt: skip
            continue
        data = image_data if number in ON_CHOSEN_SET else digits
        try:
            show(cached_answer(number, data.name, data))
        except ValueError as e:  # every refusal of core is a ValueError with a one-line message
            st.error(f"**This experiment cannot run.** {e}", icon=":material/block:")

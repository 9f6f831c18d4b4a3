"""Course questions: the two origin courses' questions, each answered by an experiment run with one click."""

from dataclasses import replace

import streamlit as st

from app.charts.course import answer_chart
from app.charts.display import chart_height, show_chart
from app.controls import DATA_DIR, label, sidebar
from app.progress import progress_bar
from app.session import dataset_or_stop
from app.views import VIEWS
from core.analysis.course.catalog import QUESTIONS
from core.data import IMAGE_DATASETS, files_present
from core.links import from_query, to_query

PATHS = {view.url_path: view.path for view in VIEWS}


@st.cache_data(max_entries=32, show_spinner=False)
def cached_answer(number, data_name, _data):
    """Question ``number``'s answer on the data set ``data_name`` (cached by both; the progress bar replays)."""
    with progress_bar(f"Question {number}: running the experiment…") as progress:
        return QUESTIONS[number].run(_data, progress)


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
st.caption(
    f"Questions 1 and 11 run on **{label(chosen)}**{why}{slow}; pick MNIST or CIFAR-10 in the sidebar (where "
    "its files are present) to run them there. The others run on the 8×8 digits or on toy problems."
)
took = "a few seconds" if chosen == "digits" else f"minutes: 1 and 11 train on {label(chosen)}"
st.button(f"Run all twelve experiments ({took})", key="w_course_run_all", on_click=mark_run, args=tuple(QUESTIONS))

done = st.session_state.get("course_run", set())
for number, question in QUESTIONS.items():
    with st.expander(f"**{number}.** {question.text}", expanded=number in done):
        if number not in done:
            st.button(
                "Run the experiment", key=f"w_course_run_{number}", type="primary", on_click=mark_run, args=(number,)
            )
            continue
        data = image_data if question.data == "chosen" else digits
        try:
            show(cached_answer(number, data.name, data))
        except ValueError as e:  # every refusal of core is a ValueError with a one-line message
            st.error(f"**This experiment cannot run.** {e}", icon=":material/block:")

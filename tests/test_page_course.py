"""The Course questions page, opened as a link would open it: every experiment run from the page, the figure it
shows recomputed outside the app, and every link a valid preset of an existing view."""

import subprocess
import sys
from urllib.parse import parse_qsl

import numpy as np
import pytest

from app.controls import DATA_DIR
from app.views import VIEWS
from core.analysis.batchnorm.experiments import COURSE_RECIPE
from core.analysis.course import batchnorm as cb
from core.analysis.course import checkpointing as ck
from core.analysis.course import curvature as cc
from core.analysis.course import training as ct
from core.analysis.course.catalog import QUESTIONS
from core.analysis.course.questions import pct
from core.data import files_present, load_dataset
from core.links import from_query, to_query
from tests.page_testing import ENTRYPOINT, captions, charts, open_page, the_trainer

DIGITS = load_dataset("digits")


def text(block):
    return "\n".join(m.value for m in block.markdown)


def links_in(block):
    """(page address, label, query dict) of every link in ``block``."""
    return [(e.proto.page, e.proto.label, dict(parse_qsl(e.proto.query_string))) for e in block.get("page_link")]


@pytest.fixture(scope="module")
def all_run():
    """The page after "Run all twelve experiments" (the default sidebar: two moons, so the digits are used)."""
    at = open_page("course")
    at.button(key="w_course_run_all").click().run(timeout=180)
    assert not at.exception, at.exception
    return at


def test_the_page_lists_every_question_with_a_button_and_runs_nothing_before_a_click():
    at = open_page("course")
    assert [e.label for e in at.expander] == [f"**{n}.** {q.text}" for n, q in QUESTIONS.items()]
    assert [b.key for b in at.button] == ["w_course_run_all"] + [f"w_course_run_{n}" for n in QUESTIONS]
    assert not at.get("vega_lite_chart") and not at.get("page_link")
    assert any(
        "run on **8×8 digits (embedded)** (the sidebar's Two moons is not an image set)" in c for c in captions(at)
    )


def test_one_click_answers_one_question_with_its_chart_and_links():
    at = open_page("course")
    at.button(key="w_course_run_5").click().run()
    assert not at.exception
    answered = [n for n, e in zip(QUESTIONS, at.expander) if charts(e)]
    assert answered == [5] and not at.expander[4].button  # the others still wait for their button
    expected = cc.saddle_escape()
    assert text(at.expander[4]).startswith(expected.answer[:200])
    assert f"**{expected.figures['steps_per_decade']:.1f} more steps**" in text(at.expander[4])
    assert [link[0] for link in links_in(at.expander[4])] == ["saddle-points", "hessian"]


def test_every_answer_shows_its_measured_figure(all_run):
    at = all_run
    assert [len(charts(e)) for e in at.expander] == [1] * 12
    shown = {n: text(e) for n, e in zip(QUESTIONS, at.expander)}
    f = ct.numpy_recipe(DIGITS).figures
    assert f"**{pct(f['test_accuracy'], 2)}** of the 360 test images" in shown[1]
    f = ct.pytorch_twin(DIGITS).figures
    assert f["max_loss_diff_float64"] < 1e-10 < f["max_loss_diff_float32"]
    assert (
        f"**{f['max_loss_diff_float64']:.1e} in float64** and **{f['max_loss_diff_float32']:.1e} in float32**"
        in shown[2]
    )
    f = cc.hessian_at_minimum().figures
    assert (
        f["smallest"] >= -1e-6 * f["largest"] and f"every one is ≥ 0: they run from **{f['smallest']:.3g}**" in shown[3]
    )
    f = cc.coin_flip().figures
    assert f"**{f['fraction_1']:.3f}** were positive definite at d = 1" in shown[4]
    f = cc.saddle_escape().figures
    assert f"1e-02: {f['escape_steps'][0]} steps" in shown[5]
    f = cb.gamma_beta_gradients(DIGITS).figures
    assert f["autograd_diff"] < 1e-14 and f"∂L/∂γ = Σₙ ∂L/∂yₙ · x̂ₙ = {f['dgamma_sum']:.10g}**" in shown[6]
    assert (
        len(at.expander[5].latex) == 2
        and r"\frac{\partial L}{\partial \beta^{(1)}_{0}}" in at.expander[5].latex[0].value
    )
    f = cb.bn_parameters().figures
    assert f"**+{f['added']}**, not +{f['bn_trained']}" in shown[7]
    f = cb.bn_inference(DIGITS).figures
    assert f["eval_gap"] < 1e-12 and f"**{pct(f['flips_train'])} change their predicted class**" in shown[8]
    f = cb.dead_relus(DIGITS).figures
    assert (
        f"at the end **{pct(f['dead_without'], 0)}** of" in shown[9]
        and f"against **{pct(f['dead_with'], 0)}**" in shown[9]
    )
    f = cb.bn_histograms(DIGITS).figures
    assert (
        f"saturated values **{pct(f['unhealthy_without'], 0)} without, {pct(f['unhealthy_with'], 0)} with**"
        in shown[10]
    )
    f = cb.course_batchnorm(DIGITS).figures
    assert f"**{pct(f['test_without'], 2)} without batch norm** and **{pct(f['test_with'], 2)} with it**" in shown[11]
    f = ck.checkpoint_savings().figures  # memory is measured, not timed: the same bytes every run
    assert f"**n^{f['slope_plain']:.2f}** with plain" in shown[12] and f"**n^{f['slope_sqrt']:.2f}** when" in shown[12]


def test_each_chart_draws_its_answers_data(all_run):
    shown = [charts(e) for e in all_run.expander]
    assert [len(c) for c in shown] == [1] * 12
    (net,) = [f for f in shown[2][0].frames if "rank" in f.columns and (f["subject"] == "network").all()]
    at_min = net[net["point"] == "trained minimum"]["eigenvalue"].to_numpy()
    expected = cc.hessian_at_minimum().frame.query("subject == 'network' and point == 'trained minimum'")
    assert len(at_min) == 22 and at_min.min() > 0 and np.array_equal(at_min, expected["eigenvalue"].to_numpy())
    coin = max(shown[3][0].frames, key=len)  # every series of the coin-flip chart
    measured = coin[coin["series"].str.startswith("measured")].set_index("d")["value"]
    fractions = cc.coin_flip().frame.set_index("d")["fraction"]
    assert np.array_equal(measured, fractions[fractions > 0])
    counts = shown[6][0].frame_with("array", "count").set_index(["network", "array"])["count"]
    assert (
        counts["with BN", "γ (scale)"] == counts["with BN", "running mean"] == counts["without BN", "b (bias)"] == 128
    )
    dead = shown[8][0].frame_with("fraction", "measure")
    top = dead[dead["epoch"] == dead["epoch"].max()].groupby("run")["fraction"].max()
    f = cb.dead_relus(DIGITS).figures
    assert (top["without BN"], top["with BN"]) == (f["dead_without"], f["dead_with"])
    # tracemalloc counts the whole process: another thread's stray Python object may add a few bytes to a peak
    sweep = shown[11][0].frame_with("peak_bytes", "variant").set_index(["variant", "depth"])["peak_bytes"].sort_index()
    again = ck.checkpoint_savings(reps=0).frame.set_index(["variant", "depth"])["peak_bytes"].sort_index()
    assert sweep.index.equals(again.index) and np.allclose(sweep, again, rtol=0, atol=1_000)


def test_every_link_opens_an_existing_view_with_a_valid_preset(all_run):
    views = {v.url_path for v in VIEWS}
    links = [link for e in all_run.expander for link in links_in(e)]
    assert len(links) >= 24
    for page, label, query in links:
        assert page in views and label
        config, notices = from_query(query)
        assert not notices and to_query(config) == query  # valid, and already in the app's short form


def test_the_course_recipe_link_opens_the_playground_on_exactly_that_run(all_run):
    (page, _, query) = links_in(all_run.expander[0])[0]
    assert page == "playground"
    at = open_page("playground", **query)
    assert not at.warning
    trainer = the_trainer(at)
    assert trainer.config.replace(track_grad_norms=False) == COURSE_RECIPE and trainer.data.name == "digits"


@pytest.mark.skipif(
    files_present("cifar10", DATA_DIR), reason="CIFAR-10's files are present: the page would train on it"
)
def test_an_image_set_without_its_files_falls_back_to_the_digits_and_says_so():
    at = open_page("course", dataset="cifar10")
    assert any(
        "run on **8×8 digits (embedded)** (CIFAR-10's files are not in the data folder)" in c for c in captions(at)
    )
    at.button(key="w_course_run_1").click().run()
    assert not at.exception and "On the 8×8 digits (1,257 training images)" in text(at.expander[0])


def test_opening_the_page_does_not_import_torch():
    """torch costs ~2 s to import: the list of questions must open without it (checked in a fresh process)."""
    script = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"at = AppTest.from_file({ENTRYPOINT!r}); at.switch_page('../pages/course.py'); at.run(); "
        "assert not at.exception; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_projector_mode_draws_the_charts_larger():
    heights = {}
    for present in ("0", "1"):
        at = open_page("course", present=present)
        at.button(key="w_course_run_7").click().run()
        assert not at.exception
        (chart,) = charts(at.expander[6])
        heights[present] = chart.spec["height"]
    assert heights == {"0": 240, "1": int(240 * 1.4)}

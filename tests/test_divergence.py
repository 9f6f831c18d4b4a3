"""A diverging run on every page that uses it: its message, the history up to it, and no NaN or ∞ as a crash.

One session trains a deep ReLU net at learning rate 10 on the Playground: "Step 1 epoch" diverges at
step 7, keeping the six steps before it. Every page is then opened in that same session. The pages
that run their own copy of the network (NumPy vs PyTorch, Batch norm) diverge at the same step, from
the same weights and batches, and say so.
"""

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.page_testing import ENTRYPOINT, chart, charts, encoding_fields, metrics, the_trainer

DIVERGING = {"depth": "4", "width": "64", "activation": "relu", "lr": "10"}  # two moons; the loss is NaN at step 7
KEPT = 6  # steps before it
AXES = ("x", "y", "x2", "y2", "theta", "radius")  # channels where a value ±∞ would break the chart's scale
OVERFLOW = re.compile(r"NaN or (∞|infinite)")  # how a page says that numbers overflow
ON_PAGE = " Everything on this page uses the last weights before it diverged."


def open_session(query, page="playground"):
    at = AppTest.from_file(ENTRYPOINT, default_timeout=120)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    return visit(at, page)


def visit(at, page):
    """Open ``pages/<page>.py`` in the session ``at`` and check it ran cleanly."""
    at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def session():
    """(AppTest, its Trainer): a session whose run diverged on the Playground."""
    at = open_session(DIVERGING)
    at.button(key="step_epoch").click().run()
    assert not at.exception, at.exception
    trainer = the_trainer(at)
    assert trainer.global_step == KEPT and trainer.diverged.startswith(f"Training diverged at step {KEPT + 1:,}")
    return at, trainer


def errors(at):
    return [e.value for e in at.error]


def no_infinity_on_axes(at):
    """No chart of the page places a value at ±∞ (NaN is left out by the charts; ∞ would break a scale)."""
    for c in charts(at):
        fields = {enc["field"] for channel, enc in encoding_fields(c.spec) if channel in AXES and "field" in enc}
        for frame in c.frames:
            for field in fields & set(frame.columns):
                values = frame[field].to_numpy()
                if values.dtype.kind == "f":
                    assert not np.isinf(values).any(), f"{c.title!r}: {field} holds ±∞"


def test_playground_stops_with_the_message_and_keeps_the_steps_before_it(session):
    at, trainer = visit(session[0], "playground"), session[1]
    assert trainer.diverged + ON_PAGE in errors(at)
    shown = metrics(at)
    assert shown["Steps"] == f"{KEPT}" and shown["Epochs done"] == "0 / 100"
    losses = chart(at, "Cross-entropy loss").frame_with("series", "value").query("series == 'mini-batch'")
    np.testing.assert_allclose(losses["value"], trainer.step_history()["loss"])
    assert len(losses) == KEPT and np.isfinite(losses["value"]).all()
    assert [at.button(key=k).disabled for k in ("play", "step_batch", "step_epoch", "reset")] == [1, 1, 1, 0]
    no_infinity_on_axes(at)


@pytest.mark.parametrize("page", ["forward", "backward"])
def test_forward_and_backward_show_the_message_and_the_last_weights(session, page):
    at, trainer = visit(session[0], page), session[1]
    assert trainer.diverged + ON_PAGE in errors(at)
    assert "NaN or ∞" in " ".join(w.value for w in at.warning)  # these weights overflow: the page says so
    assert f"the weights after {KEPT} training steps" in " ".join(c.value for c in at.caption)
    if page == "backward":
        norms = chart(at, "‖∂L/∂Wˡ‖ of this run").frame_with("step", "grad_norm")
        assert sorted(norms["step"].unique()) == list(range(1, KEPT + 1))  # the history up to the divergence
        assert at.button(key="w_bwd_train").disabled
    no_infinity_on_axes(at)


def test_jacobians_show_the_message_instead_of_crashing(session):
    at, trainer = visit(session[0], "jacobians"), session[1]
    assert trainer.diverged + ON_PAGE in errors(at)
    assert OVERFLOW.search(" ".join(m.value for m in [*at.error, *at.warning]))  # why there is no Jacobian


def test_hessian_shows_the_message_instead_of_crashing(session):
    at = session[0]
    at.switch_page("../pages/hessian.py").run()
    assert not at.exception, at.exception
    assert session[1].diverged + ON_PAGE in errors(at)
    assert any(e.startswith("**The Hessian cannot be computed here.**") for e in errors(at))


def test_numpy_vs_pytorch_stops_at_the_same_step_in_both_precisions(session):
    at = visit(session[0], "backends")
    warnings = [w.value for w in at.warning]
    assert (
        "float64: the loss became NaN or infinite at step 7: lower the learning rate. The charts stop there."
        in warnings
    )
    assert any(w.startswith("float32: the loss became NaN or infinite at step ") for w in warnings)
    curves = chart(at, "Mini-batch loss at every step").frame_with("step", "loss", "dtype")
    float64 = curves[(curves.dtype == "float64") & np.isfinite(curves.loss)]
    assert float64.groupby("backend")["step"].max().tolist() == [KEPT, KEPT]  # NumPy and PyTorch, as the session
    no_infinity_on_axes(at)


def test_numpy_vs_pytorch_shows_gradients_and_weights_of_the_steps_it_kept(session):
    at = visit(session[0], "backends")
    assert at.slider(key="w_cmp_step").max == KEPT
    assert len(chart(at, "Gradients at step").frames[0]) > 0
    assert not [c.title for c in charts(at) if "200" in c.title]


def test_batch_norm_says_which_run_diverged_with_the_sessions_message(session):
    at, trainer = visit(session[0], "batchnorm"), session[1]
    assert f"**without BN:** {trainer.diverged} Its charts stop there." in [w.value for w in at.warning]
    assert "Final validation accuracy: **none (diverged in epoch 1) without batch norm" in " ".join(
        m.value for m in at.markdown
    )
    no_infinity_on_axes(at)


def test_course_questions_do_not_use_the_diverged_run(session):
    at = visit(session[0], "course")
    assert not errors(at)


@pytest.mark.parametrize("page", ["playground", "forward", "backward", "jacobians", "hessian"])
def test_weights_that_are_nan_or_infinite_are_reported_not_a_crash(page):
    at = open_session({}, page)
    trainer = the_trainer(at)
    weights = trainer.weights()
    weights["W2"][0, 0], weights["b1"][0] = np.nan, np.inf
    trainer.model.set_weights(weights)
    at.run()
    assert not at.exception, at.exception
    messages = " ".join(e.value for e in [*at.error, *at.warning])
    assert OVERFLOW.search(messages)
    if page == "hessian":
        assert "the weights or inputs are not finite (NaN or ∞)" in messages
    no_infinity_on_axes(at)


def test_jacobians_of_an_untrained_diverging_setup_say_why_there_is_no_jacobian_after_training():
    at = open_session(DIVERGING, "jacobians")  # this run has not trained: the page trains a copy, which diverges
    assert not errors(at)  # this run itself is fine: every section before the copy's is drawn
    assert [s.value for s in at.subheader][-1] == "Before and after training"
    warnings = [m.value for m in [*at.warning, *at.info]]
    assert OVERFLOW.search(" ".join(warnings))
    assert warnings[0].startswith(f"**The copy trained for this comparison diverged** at step {KEPT + 1} of 300 ")
    assert "(now 10) in the sidebar" in warnings[-1] and "Playground" not in warnings[-1]  # the copy is not the run


def test_the_spectrum_over_training_says_when_its_run_diverged():
    at = open_session(DIVERGING, "hessian")  # this run has not trained: its weights are the initial ones
    at.number_input(key="w_hes_epochs").set_value(3)
    at.button(key="w_hes_train").click().run()
    assert not at.exception, at.exception
    measured = chart(at, "The extremes of the spectrum during training").frame_with("epoch", "value")
    assert measured["epoch"].unique().tolist() == [0]  # the run diverged in epoch 1: only its start is measured
    assert any("diverged" in w.value for w in [*at.warning, *at.error])

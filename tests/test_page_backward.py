"""The Backward page, opened from the entrypoint as a user would."""

import re

import numpy as np

from core.analysis.backward_trace import backward_trace
from core.analysis.chain_rule import chain_rule
from core.analysis.notation import tex_number
from core.data import load_dataset
from core.training.backends import initial_weights
from tests.helpers import open_page


def open_backward(**query):
    return open_page("backward", **query)


def latex(at):
    return " ".join(e.value for e in at.latex)


def comparison(at):
    """The NumPy-vs-autograd table (the page's only dataframe)."""
    assert len(at.dataframe) == 1
    return at.dataframe[0].value


def metrics(at):
    return {m.label: m.value for m in at.metric}


def test_default_page_shows_the_true_chain_rule_and_autograd_agreement():
    at = open_backward()
    # The default setup (two moons, 2 × 8 tanh, seed 42), recomputed here without the app.
    data = load_dataset("moons", n_samples=400, noise=0.2, seed=42)
    weights = initial_weights(2, (8, 8), 2, seed=42, dtype="float64")
    x, y = data.X_test[0], data.y_test[0]
    trace = backward_trace(weights, "tanh", x, y)
    i = int(np.argmax(np.abs(x)))
    assert at.number_input(key="w_bwd_i").value == i
    rule = chain_rule(trace, 1, 0, i)
    text = latex(at)
    assert rf"W^{{1}}_{{0,{i}}}" in text
    assert f"= {tex_number(rule.dW)}" in text and tex_number(rule.fprime) in text
    assert r"1-\tanh^2 z" in text
    assert metrics(at)["Loss L"] == f"{trace.loss:.4g}"

    cmp = comparison(at)
    assert len(cmp) == 9 and (cmp["max_abs_diff"] < 1e-10).all() and cmp["finite"].all()
    assert len(at.get("vega_lite_chart")) == 5  # δ, ‖δ‖, ∂L/∂W, ∂L/∂b, differences
    assert any("No training steps yet" in e.value for e in at.info)


def test_activation_depth_and_selectors_change_the_equations():
    at = open_backward()
    before = latex(at)
    at.sidebar.selectbox(key="w_activation").set_value("sigmoid").run()
    assert not at.exception
    after = latex(at)
    assert r"\sigma(z)" in after and after != before

    at.sidebar.number_input(key="w_depth").set_value(3).run()
    assert not at.exception
    assert at.selectbox(key="w_bwd_layer").options == [f"layer {l} (hidden)" for l in (1, 2, 3)] + ["layer 4 (output)"]
    assert len(comparison(at)) == 12 and (comparison(at)["max_abs_diff"] < 1e-10).all()

    at.selectbox(key="w_bwd_layer").set_value(4).run()
    at.number_input(key="w_bwd_j").set_value(1).run()
    at.number_input(key="w_bwd_i").set_value(5).run()
    assert not at.exception
    text = latex(at)
    assert r"W^{4}_{1,5}" in text and r"\mathbf{1}[1 = y]" in text and "a^{3}_{5}" in text

    at.selectbox(key="w_bwd_layer").set_value(2).run()
    text = latex(at)
    assert r"W^{2}_{1,5}" in text and r"\sum_{k=0}^{7} W^{3}_{k,1}" in text


def test_mini_batch_sums_over_the_samples():
    at = open_backward()
    one = latex(at)
    at.radio(key="w_bwd_source").set_value("batch").run()
    assert not at.exception
    text = latex(at)
    assert r"\sum_{n=1}^{16}" in text and text != one
    assert metrics(at)["Samples N"] == "16"
    cmp = comparison(at)
    assert cmp.loc[cmp["quantity"] == "δ = ∂L/∂z", "shape"].iloc[0] == "16 × 8"
    assert (cmp["max_abs_diff"] < 1e-10).all()
    at.number_input(key="w_bwd_draw").set_value(3).run()
    assert not at.exception and latex(at) != text


def test_digits_deep_and_wide_and_no_hidden_layer():
    at = open_backward(dataset="digits", depth="8", width="512")
    assert any("More than 64 rows or columns" in c.value for c in at.caption)
    cmp = comparison(at)
    assert len(cmp) == 27 and (cmp["max_abs_diff"] < 1e-10).all()
    assert cmp.loc[cmp["quantity"] == "∂L/∂W", "shape"].iloc[0] == "512 × 64"

    at.sidebar.number_input(key="w_depth").set_value(0).run()
    assert not at.exception
    assert at.selectbox(key="w_bwd_layer").options == ["layer 1 (output)"]
    text = latex(at)
    assert r"\mathbf{1}[" in text and "x_{" in text
    assert len(comparison(at)) == 3


def test_float32_shows_round_off():
    at = open_backward(dtype="float32")
    cmp = comparison(at)
    assert (cmp["max_abs_diff"] < 1e-5).all() and cmp["max_abs_diff"].max() > 1e-12
    assert any("Both in float32" in c.value for c in at.caption)


def test_vanishing_gradient_button_measures_the_ratio():
    at = open_backward(dataset="digits")
    charts = len(at.get("vega_lite_chart"))
    at.button(key="w_bwd_vanish").click().run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    sigmoid = float(re.search(r"sigmoid net gets ([0-9.e+-]+)×", text).group(1))
    elu = float(re.search(r"with ELU ([0-9.e+-]+)×", text).group(1))
    assert sigmoid < 1e-2 < 0.1 < elu
    assert len(at.get("vega_lite_chart")) == charts + 2
    at.sidebar.selectbox(key="w_activation").set_value("relu").run()  # the comparison stays on screen
    assert not at.exception and "sigmoid net gets" in " ".join(m.value for m in at.markdown)


def test_training_here_fills_the_norm_chart_and_changes_the_weights():
    at = open_backward()
    before = latex(at)
    at.button(key="w_bwd_train").click().run()
    assert not at.exception
    assert not any("No training steps yet" in e.value for e in at.info)
    assert any("after 50 training steps" in c.value for c in at.caption)
    assert latex(at) != before
    trainer = next(iter(at.session_state["trainers"].values()))
    assert trainer.grad_norms()["step"].max() == 50


def test_a_diverged_network_shows_an_error_not_a_crash():
    at = open_backward()
    trainer = next(iter(at.session_state["trainers"].values()))
    trainer.model.set_weights([(np.full_like(W, np.nan), b) for W, b in trainer.model.get_weights()])
    at.run()
    assert not at.exception
    assert any("not finite" in e.value for e in at.error)
    assert not comparison(at)["finite"].any()
    assert r"\text{NaN}" in latex(at)

"""The Forward pass page, opened from the entrypoint and driven through its controls."""

import numpy as np
import pytest
from streamlit import dataframe_util

from tests.helpers import open_page


def open_forward(**query):
    return open_page("forward", **query)


def chart_frames(at):
    """The data of every chart on the page, as DataFrames."""
    return [
        dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data)
        for chart in at.get("vega_lite_chart")
        for d in chart.proto.datasets
    ]


def shown_probabilities(at):
    (probs,) = [f for f in chart_frames(at) if "probability" in f.columns]
    return probs


def latex(at):
    return [e.value for e in at.latex]


def metric(at, label_start):
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def test_default_page_shows_the_numbers_of_one_sample():
    at = open_forward()
    assert at.title[0].value == "Forward pass"
    assert any("initial weights" in c.value for c in at.caption)
    probs = shown_probabilities(at)
    assert probs["probability"].sum() == pytest.approx(1, abs=1e-9)
    true_p = float(probs.loc[probs["is_true"], "probability"].iloc[0])
    assert float(metric(at, "Loss")) == pytest.approx(-np.log(true_p), rel=1e-3)
    assert metric(at, "Predicted class") == probs.loc[probs["probability"].idxmax(), "class"]
    body = "\n".join(latex(at))
    assert r"z^{(1)}_{0}" in body and r"\tanh" in body and r"L = -\log p_{y}" in body
    # the diagram: 2 inputs, two hidden layers of 8, 2 outputs
    frames = chart_frames(at)
    assert any("from_unit" in f.columns and len(f) == 2 * 8 + 8 * 8 + 8 * 2 for f in frames)
    assert not at.info  # small enough to draw


def test_sample_unit_and_layer_controls_change_the_equations():
    at = open_forward()
    before = latex(at)
    at.number_input(key="w_sample_index").set_value(5).run()
    assert not at.exception
    after_sample = latex(at)
    assert after_sample[1] != before[1] and any("#5" in c.value for c in at.caption)
    at.number_input(key="w_fwd_unit").set_value(3).run()
    assert not at.exception and r"z^{(1)}_{3}" in latex(at)[0]
    at.selectbox(key="w_fwd_layer").set_value(3).run()  # the output layer: softmax instead of f
    assert not at.exception
    assert r"z^{(3)}_{1}" in latex(at)[0]  # unit clamped to the 2 output units
    assert any(r"p_{1} = \frac" in line for line in latex(at)[:4])


def test_dataset_activation_and_depth_changes():
    at = open_forward()
    at.sidebar.selectbox(key="w_dataset").set_value("digits").run()
    assert not at.exception
    assert len(at.get("image")) == 1  # the input image
    probs = shown_probabilities(at)
    assert len(probs) == 10 and probs["probability"].sum() == pytest.approx(1, abs=1e-9)
    assert "more terms" in latex(at)[1]  # 64 inputs: the largest terms and the rest summed
    assert any("input pixels are not drawn" in c.value for c in at.caption)

    at.sidebar.selectbox(key="w_activation").set_value("elu").run()
    assert not at.exception and any(r"\alpha" in line for line in latex(at))

    at.selectbox(key="w_fwd_layer").set_value(2).run()
    at.sidebar.number_input(key="w_depth").set_value(0).run()  # softmax regression
    assert not at.exception
    assert at.selectbox(key="w_fwd_layer").options == ["output"]
    assert r"z^{(1)}" in latex(at)[0] and not any(r"f(z)" in line for line in latex(at))

    at.sidebar.number_input(key="w_depth").set_value(3).run()
    assert not at.exception
    assert at.selectbox(key="w_fwd_layer").options == ["hidden 1", "hidden 2", "hidden 3", "output"]


def test_url_parameters_open_the_same_network():
    at = open_forward(depth="0", activation="relu", dataset="blobs")
    assert at.selectbox(key="w_fwd_layer").options == ["output"]
    assert len(shown_probabilities(at)) == 3
    bad = open_forward(depth="99", width="-3")  # rejected: defaults are used, with a notice
    assert bad.selectbox(key="w_fwd_layer").options == ["hidden 1", "hidden 2", "output"]


def test_a_wide_deep_network_gets_a_summary_instead_of_a_diagram():
    at = open_forward(depth="8", width="512", activation="sigmoid")
    assert "too large to draw" in at.info[0].value
    assert len(at.dataframe[0].value) == 10  # input, 8 hidden layers, output
    assert at.dataframe[0].value.iloc[0]["mean z"] == "–"  # the input row has no z
    assert at.number_input(key="w_fwd_unit").max == 511
    assert not any("from_unit" in f.columns for f in chart_frames(at))


def test_trained_and_diverged_weights_are_what_the_page_shows():
    at = open_forward()
    before = latex(at)[1]
    (trainer,) = at.session_state["trainers"].values()
    for _ in range(5):
        trainer.step()
    at.run()
    assert not at.exception
    assert any("after 5 training steps" in c.value for c in at.caption)
    assert latex(at)[1] != before
    trainer.model.set_weights([(np.full_like(W, np.nan), b) for W, b in trainer.model.get_weights()])
    at.run()
    assert not at.exception
    assert "not finite" in at.error[0].value and metric(at, "Loss") == "nan"
    assert metric(at, "Predicted class") == "–"

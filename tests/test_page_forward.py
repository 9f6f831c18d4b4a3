"""The Forward pass page, opened as a link would open it and driven through its controls."""

import re

import numpy as np
import pytest

from core.analysis.text.notation import INDEX_CONVENTION, tex_number
from tests.page_testing import captions, chart, charts, encoding_fields, latex, metrics, open_page, table, the_trainer


def open_forward(**query):
    return open_page("forward", **query)


def shown_probabilities(at):
    return chart(at, "Probabilities").frame_with("probability")


def layer_frame(at, name):
    """The bars of one layer: {meaning: values by unit}."""
    frame = chart(at, name).frame_with("meaning", "value")
    return {m: g.sort_values("unit")["value"].to_numpy() for m, g in frame.groupby("meaning")}


def test_default_page_shows_the_numbers_of_one_sample():
    at = open_forward()
    assert at.title[0].value == "Forward pass"
    assert any("initial weights" in c for c in captions(at)) and INDEX_CONVENTION in captions(at)
    probs = shown_probabilities(at)
    assert probs["probability"].sum() == pytest.approx(1, abs=1e-9)
    true_p = float(probs.loc[probs["is_true"], "probability"].iloc[0])
    assert float(metrics(at)["Loss = −log p(true class)"]) == pytest.approx(-np.log(true_p), rel=1e-3)
    assert metrics(at)["Predicted class"] == probs.loc[probs["probability"].idxmax(), "class"]
    body = "\n".join(latex(at))
    assert r"z^{(1)}_{0}" in body and r"\tanh" in body and r"L = -\log p_{y}" in body
    units = chart(at, "Units and weights")
    assert len(units.frame_with("from_unit")) == 2 * 8 + 8 * 8 + 8 * 2  # 2 inputs, 8, 8, 2 outputs
    assert not at.info  # small enough to draw


def test_the_input_step_shows_raw_mean_std_and_the_standardized_x():
    at = open_forward()
    data = the_trainer(at).data
    x = data.X_test[0]
    raw = data.to_raw(x[None])[0]
    lines = [line for line in latex(at) if r"\text{raw}" in line]
    assert len(lines) == 2
    for i, line in enumerate(lines):
        assert line.strip("$\n").startswith(f"x_{{{i}}} =")
        assert tex_number(raw[i]) in line and line.strip("$\n").endswith(f"= {tex_number(x[i])}")
        assert tex_number(data.mean[i] * data.raw_scale) in line and tex_number(data.std[i] * data.raw_scale) in line


def test_a_typed_point_enters_the_network_standardized_and_stays_on_the_plot():
    at = open_forward()
    at.radio(key="w_sample_mode").set_value("custom").run()
    at.number_input(key="w_sample_x0").set_value(3.0).run()
    at.number_input(key="w_sample_x1").set_value(-3.0).run()
    assert not at.exception
    trainer = the_trainer(at)
    data = trainer.data  # what the network must see, written out (not through from_raw, which this guards)
    x = (np.array([3.0, -3.0]) / data.raw_scale - data.mean) / data.std
    assert not np.allclose(data.std, 1) and not np.allclose(x, [3.0, -3.0])  # standardizing changes the point
    lines = [line.strip("$\n") for line in latex(at) if r"\text{raw}" in line]
    assert lines[0].endswith(f"= {tex_number(x[0])}") and lines[1].endswith(f"= {tex_number(x[1])}")
    weights = trainer.weights()
    z = weights["W1"][0] @ x + weights["b1"][0]
    (numbers,) = [
        line.strip("$\n") for line in latex(at) if line.startswith("$$\nz^{(1)}_{0} = ") and "sum" not in line
    ]
    assert numbers.endswith(f"= {tex_number(z)}")
    plane = chart(at, "The sample")
    (point,) = [f for f in plane.frames if "class" not in f.columns]
    assert point.iloc[0].tolist() == [3.0, -3.0]
    scale = {c: e["scale"]["domain"] for c, e in encoding_fields(plane.spec) if c in ("x", "y")}
    assert scale["x"][0] < 3.0 < scale["x"][1] and scale["y"][0] < -3.0 < scale["y"][1]  # inside the plot


def test_sample_unit_and_layer_controls_change_the_equations():
    at = open_forward()
    before = latex(at)
    at.number_input(key="w_sample_index").set_value(5).run()
    assert not at.exception
    assert latex(at) != before and any("#5" in c for c in captions(at))
    at.number_input(key="w_fwd_unit").set_value(3).run()
    assert not at.exception and any(r"z^{(1)}_{3} = \sum" in line for line in latex(at))
    at.selectbox(key="w_fwd_layer").set_value(3).run()  # the output layer: softmax instead of f
    assert not at.exception
    assert any(r"z^{(3)}_{1} = \sum" in line for line in latex(at))  # unit clamped to the 2 output units
    assert any(r"p_{1} = \frac{e^{z_{1}}}" in line for line in latex(at))


def test_output_bars_are_the_logits_and_the_probabilities():
    at = open_forward()
    probs = shown_probabilities(at).sort_values("class_index")["probability"].to_numpy()
    output = layer_frame(at, "output")
    assert set(output) == {"logits z = W a + b", "p = softmax(z)"}  # not "a = f(z)" under softmax
    np.testing.assert_allclose(output["p = softmax(z)"], probs)
    z = output["logits z = W a + b"]
    np.testing.assert_allclose(np.exp(z - z.max()) / np.exp(z - z.max()).sum(), probs, rtol=1e-12)
    assert set(layer_frame(at, "hidden 1")) == {"z = W a + b", "a = f(z)"}
    x_title = {
        name: [e["title"] for c, e in encoding_fields(chart(at, name).spec) if c == "x"][0]
        for name in ("hidden 1", "output")
    }
    assert x_title == {"hidden 1": "unit j", "output": "class k"}  # the output layer's units are the classes k


def test_batch_norm_is_its_own_step_between_z_and_f():
    at = open_forward(batch_norm="1", activation="relu")
    trainer = the_trainer(at)
    for _ in range(20):  # running statistics away from 0 and 1
        trainer.step()
    at.run()
    weights, data = trainer.weights(), trainer.data
    x = data.X_test[0]
    z = weights["W1"] @ x  # no bias before batch norm
    bn = weights["gamma1"] * (z - weights["running_mean1"]) / np.sqrt(weights["running_var1"] + 1e-5) + weights["beta1"]
    bars = layer_frame(at, "hidden 1")
    assert list(bars) == sorted(["z = W a", "z̃ = BN(z) = γ ẑ + β", "a = f(z̃)"])
    np.testing.assert_allclose(bars["z = W a"], z, rtol=1e-10)
    np.testing.assert_allclose(bars["z̃ = BN(z) = γ ẑ + β"], bn, rtol=1e-10)
    np.testing.assert_allclose(bars["a = f(z̃)"], np.maximum(bn, 0), rtol=1e-10)
    body = latex(at)
    assert not any(r"+ b^{(1)}_{0}" in line for line in body)  # batch norm replaces the bias
    (x_hat,) = [line for line in body if line.strip("$\n").startswith(r"\hat z_{0} = \frac{")]
    expected = (z[0] - weights["running_mean1"][0]) / np.sqrt(weights["running_var1"][0] + 1e-5)
    assert x_hat.strip("$\n").endswith(f"= {tex_number(expected)}")
    assert any(line.strip("$\n").endswith(f"= {tex_number(bn[0])}") and r"\tilde z" in line for line in body)


def test_dataset_activation_and_depth_changes():
    at = open_forward()
    at.sidebar.selectbox(key="w_dataset").set_value("digits").run()
    assert not at.exception
    assert len(at.get("image")) == 1  # the input image
    probs = shown_probabilities(at)
    assert len(probs) == 10 and probs["probability"].sum() == pytest.approx(1, abs=1e-9)
    assert any("more terms" in line for line in latex(at))  # 64 inputs: the largest terms and the rest summed
    assert any("input pixels are not drawn" in c for c in captions(at))
    assert any("Each of the 64 pixel values" in c for c in captions(at))  # a note, not 64 equations
    assert not any(r"\text{raw}" in line for line in latex(at))

    at.sidebar.selectbox(key="w_activation").set_value("elu").run()
    assert not at.exception and any(r"(e^{z} - 1)" in line for line in latex(at))

    at.selectbox(key="w_fwd_layer").set_value(2).run()
    at.sidebar.number_input(key="w_depth").set_value(0).run()  # softmax regression
    assert not at.exception
    assert at.selectbox(key="w_fwd_layer").options == ["1: output"]
    assert any(r"z^{(1)}" in line for line in latex(at)) and not any(r"f(z)" in line for line in latex(at))

    at.sidebar.number_input(key="w_depth").set_value(3).run()
    assert not at.exception
    assert at.selectbox(key="w_fwd_layer").options == ["1: hidden 1", "2: hidden 2", "3: hidden 3", "4: output"]


def test_url_parameters_open_the_same_network():
    at = open_forward(depth="0", activation="relu", dataset="blobs")
    assert at.selectbox(key="w_fwd_layer").options == ["1: output"]
    assert len(shown_probabilities(at)) == 3
    bad = open_forward(depth="99", width="-3")  # rejected: defaults are used, with a notice
    assert bad.selectbox(key="w_fwd_layer").options == ["1: hidden 1", "2: hidden 2", "3: output"]
    assert len([w for w in bad.warning if w.value.startswith("Ignored")]) == 2


def test_a_wide_deep_network_gets_a_summary_instead_of_a_diagram():
    at = open_forward(depth="8", width="512", activation="sigmoid")
    assert "too large to draw" in at.info[0].value
    summary = table(at)
    assert len(summary) == 10 and np.isnan(summary.iloc[0]["mean z"])  # input, 8 hidden, output; no z for x
    assert summary["units"].tolist() == [2] + [512] * 8 + [2]
    assert at.number_input(key="w_fwd_unit").max == 511
    assert not any("from_unit" in f.columns for c in charts(at) for f in c.frames)


def test_trained_weights_are_what_the_page_shows():
    at = open_forward()
    before = latex(at)
    trainer = the_trainer(at)
    for _ in range(5):
        trainer.step()
    at.run()
    assert not at.exception
    assert any("after 5 training steps" in c for c in captions(at))
    assert latex(at) != before
    probs = trainer.predict_proba(trainer.data.X_test[:1])[0]
    np.testing.assert_allclose(shown_probabilities(at).sort_values("class_index")["probability"], probs, rtol=1e-10)


def test_overflowing_weights_give_one_message_finite_colours_and_no_crash():
    at = open_forward(activation="relu")
    trainer = the_trainer(at)
    weights = trainer.weights()
    huge = {k: v * 1e300 if k.startswith("W") else v for k, v in weights.items()}
    trainer.model.set_weights(huge)  # finite weights whose z overflow to ±∞
    at.run()
    assert not at.exception
    assert "NaN or ∞" in at.warning[0].value and metrics(at)["Loss = −log p(true class)"] == "nan"
    assert metrics(at)["Predicted class"] == "–"
    units = chart(at, "Units and weights")
    scales = [e["scale"] for c, e in encoding_fields(units.spec) if c == "color" and e.get("field") == "value"]
    nodes = max((f for f in units.frames if "label" in f.columns), key=len)
    largest = np.nanmax(np.abs(nodes["value"]))  # the largest finite output (NaN and ∞ are NaN in the frame)
    assert nodes["value"].isna().any() and scales[0]["domain"] == [-largest, largest] and scales[0]["clamp"]
    legends = {
        e["field"]: (e.get("legend") or {}).get("format")
        for c, e in encoding_fields(units.spec)
        if c in ("color", "strokeWidth") and e.get("field") in ("value", "magnitude")
    }
    assert legends == {"value": ".3~g", "magnitude": ".3~g"}  # compact numbers, never 1e300 written out
    assert any(r"\text{NaN}" in line or r"\infty" in line for line in latex(at))


def test_a_diverged_run_shows_the_playground_message():
    at = open_page("playground", depth="4", width="64", activation="relu", lr="10")
    at.button(key="step_epoch").click().run()
    message = at.error[0].value
    at.switch_page("../pages/forward.py").run()
    assert not at.exception and [e.value for e in at.error] == [message]  # the same one message
    steps = int(re.search(r"the (\d+) steps before it are kept", message).group(1))
    assert any(f"after {steps} training steps" in c for c in captions(at))

"""The Backward page, opened as a link would open it: its numbers recomputed outside the app and compared."""

import re

import numpy as np

from core.analysis.text.chain_rule import chain_rule
from core.analysis.text.notation import INDEX_CONVENTION, tex_number
from core.analysis.traces.autograd_check import autograd_pass
from core.analysis.traces.backward_trace import backward_trace
from core.analysis.traces.grad_flow import gradient_norms_by_depth, gradient_ratio_summary
from core.data import load_dataset
from core.training.backends import initial_weights
from core.training.batches import draw_batch
from tests.page_testing import (
    captions,
    chart,
    charts,
    encoding_fields,
    latex,
    metrics,
    open_page,
    table,
    texts,
    the_trainer,
)

ACTIVATION_NAMES = {"sigmoid": "sigmoid", "relu": "ReLU", "elu": "ELU"}


def open_backward(**query):
    return open_page("backward", **query)


def text(at):
    return " ".join(latex(at))


def comparison(at):
    """The NumPy-vs-autograd table (the page's only table)."""
    assert len(at.table) == 1
    return table(at)


def differs_by(at):
    """(autograd's entry, the difference) as the chain-rule caption states them."""
    (caption,) = [c for c in captions(at) if "PyTorch autograd, from the same weights" in c]
    found = re.search(
        r"\] = ([-0-9.e+]+) \(float\d\d\); the sum written out differs from it by ([0-9.e+-]+)\.", caption
    )
    return float(found.group(1)), float(found.group(2))


def name_labels(shown, panel=None):
    """The names at the line ends of a gradient-norm chart, {panel: rows (name, shown, end_y)}."""
    frame = shown.frame_with("role", "name")
    labels = frame[frame.role == "label"]
    return dict(iter(labels.groupby(panel))) if panel else {None: labels}


def label_pixels(shown, labels):
    """The heights of the names on the plot in pixels from its bottom, sorted (log axis: pixels ∝ log value)."""
    lo, hi = np.log10([e["scale"]["domain"] for c, e in encoding_fields(shown.spec) if c == "y"][0])
    height = shown.spec.get("spec", shown.spec)["height"]
    return np.sort(height * (np.log10(labels["shown"].to_numpy()) - lo) / (hi - lo))


def default_trace():
    """The default setup (two moons, 2 × 8 tanh, seed 42) and its first test sample, recomputed without the app."""
    data = load_dataset("moons", n_samples=400, noise=0.2, seed=42)
    weights = initial_weights(2, (8, 8), 2, seed=42, dtype="float64")
    x, y = data.X_test[0], data.y_test[0]
    return data, weights, x, backward_trace(weights, "tanh", x, y)


def test_default_page_shows_the_true_chain_rule_and_autograd_agreement():
    at = open_backward()
    data, weights, x, trace = default_trace()
    i = int(np.argmax(np.abs(x)))
    assert at.number_input(key="w_bwd_i").value == i and INDEX_CONVENTION in captions(at)
    rule = chain_rule(trace, 1, 0, i)
    body = text(at)
    assert rf"W^{{(1)}}_{{0,{i}}}" in body and f"x_{{{i}}}" in body
    assert f"= {tex_number(rule.dW)}" in body and tex_number(rule.fprime) in body
    assert r"1 - \tanh^2 z" in body
    assert metrics(at)["Loss L"] == f"{trace.loss:.4g}"

    cmp = comparison(at)
    assert len(cmp) == 9 and (cmp["max |NumPy − autograd|"] < 1e-10).all() and cmp["finite"].all()
    assert cmp["layer"].tolist()[::3] == ["hidden 1", "hidden 2", "output"]
    autograd = autograd_pass(weights, "tanh", x[None], [data.y_test[0]], mode="eval")["grads"]["W1"][0, i]
    entry, diff = differs_by(at)
    assert entry == float(f"{autograd:.6g}") and diff < 1e-15
    assert any("No training steps yet" in e.value for e in at.info)


def test_the_delta_heatmap_shows_each_layers_delta_scaled_by_its_largest():
    at = open_backward(depth="3", activation="elu")
    trainer = the_trainer(at)
    x, y = trainer.data.X_test[0], trainer.data.y_test[0]
    trace = backward_trace(trainer.weights(), "elu", x, y)
    heatmap = chart(at, "δ = ∂L/∂z")
    frame = heatmap.frame_with("row", "scaled")
    rows = heatmap.spec["encoding"]["y"]["sort"]
    assert rows == ["output", "hidden 3", "hidden 2", "hidden 1"]  # backpropagation goes from the top down
    for l, name in enumerate(["hidden 1", "hidden 2", "hidden 3", "output"], start=1):
        row = frame[frame.row == name].sort_values("position")
        delta = trace.deltas[l - 1][0]
        np.testing.assert_allclose(row["delta"], delta, rtol=1e-12)
        np.testing.assert_allclose(row["scaled"], delta / np.abs(delta).max(), rtol=1e-12)
    norms = chart(at, "Size of δ").frame_with("norm")
    np.testing.assert_allclose(norms.sort_values("l")["norm"], [np.linalg.norm(d) for d in trace.deltas], rtol=1e-12)


def test_column_i_of_w1_is_input_x_i_on_every_chart_and_equation():
    at = open_backward()
    data = the_trainer(at).data
    x = data.X_test[0]
    at.selectbox(key="w_bwd_layer").set_value(1).run()
    at.number_input(key="w_bwd_i").set_value(1).run()
    assert "input xᵢ" in at.number_input(key="w_bwd_i").label
    first = latex(at)[0]
    assert r"W^{(1)}_{0,1}" in first and r"x_{1} = " in first and f"\\cdot{tex_number(x[1], brackets=True)}" in first
    heatmap = chart(at, "∂L/∂W⁽¹⁾")
    outline = [layer for layer in heatmap.spec["layer"] if "transform" in layer][0]["transform"][0]["filter"]
    assert "datum.col === 1" in outline
    assert heatmap.spec["layer"][0]["encoding"]["x"]["title"] == "column i = input xᵢ"
    plotted = chart(at, "The sample").frames
    assert [f for f in plotted if "class" not in f.columns][0].iloc[0].tolist() == data.to_raw(x[None, :])[0].tolist()
    assert any("uses the standardized x = (raw − mean) / std" in c for c in captions(at))  # the plot's x is raw

    at.switch_page("../pages/forward.py").run()  # the same sample, the same index convention
    nodes = max((f for f in chart(at, "Units and weights").frames if "label" in f.columns), key=len)
    assert nodes.loc[nodes.label == "x₁", "value"].iloc[0] == x[1]
    (input_line,) = [line.strip("$\n") for line in latex(at) if line.startswith("$$\nx_{1} =")]
    assert input_line.endswith(f"= {tex_number(x[1])}")
    plane = chart(at, "The sample")
    assert {c: e["title"] for c, e in encoding_fields(plane.spec) if c in ("x", "y") and "title" in e} == {
        "x": "x₀",
        "y": "x₁",
    }
    (point,) = [f for f in plane.frames if "class" not in f.columns]
    assert point["x1"].iloc[0] == data.to_raw(x[None])[0, 1]


def test_activation_depth_and_selectors_change_the_equations():
    at = open_backward()
    before = text(at)
    at.sidebar.selectbox(key="w_activation").set_value("sigmoid").run()
    assert not at.exception
    after = text(at)
    assert r"\sigma(z)" in after and after != before

    at.sidebar.number_input(key="w_depth").set_value(3).run()
    assert not at.exception
    assert at.selectbox(key="w_bwd_layer").options == ["1: hidden 1", "2: hidden 2", "3: hidden 3", "4: output"]
    assert len(comparison(at)) == 12 and (comparison(at)["max |NumPy − autograd|"] < 1e-10).all()

    at.selectbox(key="w_bwd_layer").set_value(4).run()
    at.number_input(key="w_bwd_j").set_value(1).run()
    at.number_input(key="w_bwd_i").set_value(5).run()
    assert not at.exception
    body = text(at)
    assert r"W^{(4)}_{1,5}" in body and r"\mathbf{1}[1 = y]" in body and "a^{(3)}_{5}" in body

    at.selectbox(key="w_bwd_layer").set_value(2).run()
    body = text(at)
    assert r"W^{(2)}_{1,5}" in body and r"\sum_{k=0}^{7} W^{(3)}_{k,1}" in body


def test_mini_batch_sums_over_the_samples():
    at = open_backward()
    one = text(at)
    at.radio(key="w_bwd_source").set_value("batch").run()
    assert not at.exception
    body = text(at)
    assert r"\sum_{n=0}^{15}" in body and body != one
    assert metrics(at)["Samples N"] == "16"
    cmp = comparison(at)
    assert cmp.loc[cmp["gradient"] == "δ = ∂L/∂z", "shape"].iloc[0] == "16 × 8"
    assert (cmp["max |NumPy − autograd|"] < 1e-10).all()
    points = [f for f in chart(at, "The mini-batch").frames if "class" not in f.columns][0]
    assert len(points) == 16
    at.number_input(key="w_bwd_draw").set_value(3).run()
    assert not at.exception and text(at) != body


def test_batch_norm_shows_delta_through_batch_norm_and_the_gradients_of_gamma_and_beta():
    at = open_backward(batch_norm="1", activation="relu")
    at.radio(key="w_bwd_source").set_value("batch").run()
    trainer = the_trainer(at)
    data = trainer.data
    heatmap = chart(at, "δ = ∂L/∂z")
    frame = heatmap.frame_with("row", "delta")
    assert heatmap.spec["encoding"]["y"]["sort"] == [
        "output",
        "hidden 2: ∂L/∂BN(z)",
        "hidden 2: δ = ∂L/∂z",
        "hidden 1: ∂L/∂BN(z)",
        "hidden 1: δ = ∂L/∂z",
    ]
    batch = draw_batch(len(data.y_train), 16, 42, 0, cap=256)
    trace = backward_trace(trainer.weights(), "relu", data.X_train[batch.indices], data.y_train[batch.indices])
    np.testing.assert_allclose(
        frame[frame.row == "hidden 1: ∂L/∂BN(z)"].sort_values("position")["delta"], trace.bn_deltas[0][0], rtol=1e-12
    )
    np.testing.assert_allclose(
        frame[frame.row == "hidden 1: δ = ∂L/∂z"].sort_values("position")["delta"], trace.deltas[0][0], rtol=1e-12
    )
    gamma = chart(at, "∂L/∂γ⁽¹⁾").frame_with("value")
    beta = chart(at, "∂L/∂β⁽¹⁾").frame_with("value")
    np.testing.assert_allclose(gamma.sort_values("row")["value"], trace.grads["gamma1"], rtol=1e-12)
    np.testing.assert_allclose(beta.sort_values("row")["value"], trace.grads["beta1"], rtol=1e-12)
    assert not any(c.title.startswith("∂L/∂b⁽¹⁾") for c in charts(at))
    cmp = comparison(at)
    assert {"∂L/∂γ", "∂L/∂β"} <= set(cmp["gradient"]) and (cmp["max |NumPy − autograd|"] < 1e-10).all()
    assert "back through batch norm" in texts(at) and r"\hat z" in text(at)


def test_digits_deep_and_wide_and_no_hidden_layer():
    at = open_backward(dataset="digits", depth="8", width="512")
    assert any("More than 64 rows or columns" in c for c in captions(at))
    cmp = comparison(at)
    assert len(cmp) == 27 and (cmp["max |NumPy − autograd|"] < 1e-10).all()
    assert cmp.loc[cmp["gradient"] == "∂L/∂W", "shape"].iloc[0] == "512 × 64"

    at.sidebar.number_input(key="w_depth").set_value(0).run()
    assert not at.exception
    assert at.selectbox(key="w_bwd_layer").options == ["1: output"]
    body = text(at)
    assert r"\mathbf{1}[" in body and "x_{" in body
    assert len(comparison(at)) == 3


def test_float32_shows_round_off_and_the_caption_compares_with_autograd():
    at = open_backward(dtype="float32")
    cmp = comparison(at)
    assert (cmp["max |NumPy − autograd|"] < 1e-5).all() and cmp["max |NumPy − autograd|"].max() > 1e-12
    assert any("Both in float32" in c for c in captions(at))
    trainer = the_trainer(at)
    weights, x, y = trainer.weights(), trainer.data.X_test[0], trainer.data.y_test[0]  # float32 weights
    i = at.number_input(key="w_bwd_i").value
    rule = chain_rule(backward_trace(weights, "tanh", x, y), 1, 0, i)  # in float64: the numbers written out
    autograd = autograd_pass(weights, "tanh", x[None], [y], mode="eval", dtype="float32")
    torch_entry = float(autograd["grads"]["W1"][0, i])  # a float32 number, compared in float64
    entry, diff = differs_by(at)
    assert entry == float(f"{torch_entry:.6g}")
    assert diff > 0 and diff == float(f"{abs(rule.dW - torch_entry):.1e}")


def test_the_difference_chart_labels_machine_epsilon():
    at = open_backward()
    diff = chart(at, "NumPy vs autograd")
    (label,) = [f for f in diff.frames if "label" in f.columns]
    assert label["label"].iloc[0] == "machine ε = 2.2e-16" and label["shown"].iloc[0] == np.finfo(float).eps
    assert any(layer.get("mark", {}).get("type") == "text" for layer in diff.spec["layer"])


def test_vanishing_gradient_button_measures_the_ratio():
    at = open_backward(dataset="digits")
    at.button(key="w_bwd_vanish").click().run()
    assert not at.exception
    markdown = " ".join(m.value for m in at.markdown)
    sigmoid = float(re.search(r"sigmoid net gets ([0-9.e+-]+)×", markdown).group(1))
    elu = float(re.search(r"with ELU ([0-9.e+-]+)×", markdown).group(1))
    assert sigmoid < 1e-2 < 0.1 < elu
    norms = gradient_norms_by_depth(the_trainer(at).data, ("sigmoid", "relu", "elu"), depth=8, width=32, steps=100)
    ratio = gradient_ratio_summary(norms).set_index("activation")["ratio"]
    assert f"gets {ratio['sigmoid']:.1e}× the gradient" in markdown  # the numbers of this experiment, each its own
    assert f"with ReLU {ratio['relu']:.2g}×, with ELU {ratio['elu']:.2g}×" in markdown
    profile = chart(at, "Gradient norm of every layer before training")
    lines = profile.frame_with("grad_norm", "role").query("role == 'line'")
    assert set(lines["name"]) == {"sigmoid", "ReLU", "ELU"}
    first = norms[norms["step"] == 1].assign(name=lambda f: f["activation"].map(ACTIVATION_NAMES))
    np.testing.assert_array_equal(
        lines.sort_values(["name", "layer"])["grad_norm"], first.sort_values(["name", "layer"])["grad_norm"]
    )
    vanishing = chart(at, "Gradient norms per layer during training, by activation")
    for name, labels in name_labels(vanishing, "activation_name").items():
        assert len(labels) == 9, name  # every layer of the 8-layer net and its output layer is named …
        assert np.diff(label_pixels(vanishing, labels)).min() >= 15, name  # … and no two names overlap
    at.sidebar.selectbox(key="w_activation").set_value("relu").run()  # the comparison stays on screen
    assert not at.exception and "sigmoid net gets" in " ".join(m.value for m in at.markdown)


def test_training_here_fills_the_norm_chart_with_labelled_lines():
    at = open_backward()
    before = text(at)
    at.button(key="w_bwd_train").click().run()
    assert not at.exception
    assert not any("No training steps yet" in e.value for e in at.info)
    assert any("after 50 training steps" in c for c in captions(at))
    assert text(at) != before
    trainer = the_trainer(at)
    norms = chart(at, "‖∂L/∂Wˡ‖ of this run")
    frame = norms.frame_with("grad_norm", "name", "role")
    lines = frame[frame.role == "line"]
    np.testing.assert_array_equal(lines["grad_norm"], trainer.grad_norms()["grad_norm"])
    assert set(lines["name"]) == {"layer 1", "layer 2", "layer 3"}
    texts = [layer for layer in norms.spec["layer"] if layer["mark"]["type"] == "text"]
    assert texts and texts[0]["encoding"]["text"]["field"] == "name"  # each line named at its end
    (labels,) = name_labels(norms).values()
    last = lines[lines.step == lines.step.max()].set_index("name")["grad_norm"]
    np.testing.assert_array_equal(labels.set_index("name")["end_y"].sort_index(), last.sort_index())  # its line's end
    assert np.diff(label_pixels(norms, labels)).min() >= 15
    colors = norms.spec["layer"][0]["encoding"]["color"]["scale"]["range"]
    assert len(set(colors)) == 3


def test_a_diverged_run_shows_the_playground_message_and_cannot_train_here():
    at = open_page("playground", depth="4", width="64", activation="relu", lr="10")
    at.button(key="step_epoch").click().run()
    message = at.error[0].value
    at.switch_page("../pages/backward.py").run()
    assert not at.exception and [e.value for e in at.error] == [message]
    assert at.button(key="w_bwd_train").disabled
    assert "NaN or ∞" in at.warning[0].value
    assert not comparison(at)["finite"].all()
    assert r"\text{NaN}" in text(at) or r"\infty" in text(at)

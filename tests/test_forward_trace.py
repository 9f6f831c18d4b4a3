"""The Forward pass view's numbers: one sample's trace, unit equations, LaTeX and diagram frames."""

import numpy as np
import pytest

from core.analysis.text.forward_equations import (
    activation_latex,
    batchnorm_latex,
    linear_latex,
    loss_latex,
    softmax_latex,
    unit_equation,
)
from core.analysis.text.notation import tex_number
from core.analysis.traces.forward_trace import (
    MAX_DIAGRAM_EDGES,
    diagram_frames,
    diagram_layers,
    forward_trace,
    input_frame,
)
from core.data import load_dataset
from core.nn.activations import ACTIVATIONS
from core.numpy_mlp import MLP


def random_net(D=5, hidden=(7, 4), C=3, seed=0, activation="elu", batch_norm=False):
    """Weights with non-zero biases (and batch-norm parameters and estimates away from 1 and 0), a sample, a label."""
    rng = np.random.default_rng(seed)
    mlp = MLP(D, list(hidden), C, activation, rng=rng, batch_norm=batch_norm)
    weights = {k: v + (0.3 * rng.random(v.shape) if not k.startswith("W") else 0) for k, v in mlp.get_weights().items()}
    return weights, rng.standard_normal(D), int(rng.integers(C))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_trace_matches_the_mlp_and_softmax_and_loss_are_consistent(activation):
    weights, x, y = random_net(activation=activation)
    trace = forward_trace(weights, activation, x, y)
    mlp = MLP(5, [7, 4], 3, activation, rng=np.random.default_rng(1))
    mlp.set_weights(weights)
    probs = mlp.eval().forward(x[None])
    assert trace.widths == [5, 7, 4, 3] and trace.n_layers == 3
    for z_trace, z_mlp in zip(trace.zs, mlp.zs, strict=True):
        np.testing.assert_array_equal(z_trace, z_mlp[0])
    for a_trace, a_mlp in zip(trace.activations, mlp.activations, strict=True):
        np.testing.assert_array_equal(a_trace, a_mlp[0])
    np.testing.assert_array_equal(trace.probs, probs[0])
    assert trace.probs.sum() == pytest.approx(1, abs=1e-12)
    assert trace.loss == pytest.approx(-np.log(trace.probs[y]), rel=1e-12)
    assert trace.predicted == int(np.argmax(probs)) and trace.is_finite
    # z = W a + b by hand, layer by layer
    for l, (a_prev, z) in enumerate(zip(trace.activations, trace.zs), start=1):
        np.testing.assert_allclose(z, weights[f"W{l}"] @ a_prev + weights[f"b{l}"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["elu", "relu", "sigmoid"])
def test_batch_norm_step_uses_the_running_estimates_and_its_equation_has_the_numbers(activation):
    weights, x, y = random_net(activation=activation, batch_norm=True)
    trace = forward_trace(weights, activation, x, y)
    assert trace.batch_norm and len(trace.bn_outs) == 2
    z = weights["W1"] @ x  # no bias before batch norm
    expected = weights["gamma1"] * (z - weights["running_mean1"]) / np.sqrt(weights["running_var1"] + 1e-5)
    np.testing.assert_allclose(trace.bn_outs[0], expected + weights["beta1"], rtol=1e-12)
    eq = unit_equation(trace, 1, 2)
    assert eq.u == trace.bn_outs[0][2] and eq.a == trace.activations[1][2] and eq.bias == 0
    formula, x_hat, out = batchnorm_latex(eq)
    assert tex_number(weights["running_mean1"][2], brackets=True) in x_hat and tex_number(eq.u) in out
    assert "+ b^{" not in linear_latex(eq)[0]  # no bias term before batch norm
    assert f"f({tex_number(eq.u)})" in activation_latex(eq, trace.mlp.nonlinearities[0])[1]
    units = trace.units_frame()
    assert units[units.layer == 1]["quantity"].unique().tolist() == ["z", "bn", "a"]


def test_activation_definition_reads_the_constants_from_the_module():
    weights, x, y = random_net(activation="leaky_relu")
    trace = forward_trace(weights, "leaky_relu", x, y)
    module = trace.mlp.nonlinearities[0]
    module.negative_slope = 0.2
    assert "0.2" in activation_latex(unit_equation(trace, 1, 0), module)[0]


def test_input_frame_shows_the_standardization_step():
    data = load_dataset("moons", n_samples=200, noise=0.2, seed=1)
    x = data.X_test[4]
    frame = input_frame(data, x)
    assert frame["feature"].tolist() == ["x₀", "x₁"]
    raw = frame["raw"].to_numpy()
    np.testing.assert_allclose((raw - frame["mean"]) / frame["std"], x, rtol=1e-12)
    np.testing.assert_allclose(data.from_raw(raw), x, rtol=1e-12)
    assert not np.allclose(raw, x)  # the network sees other numbers than the plot's coordinates


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("D", [2, 8, 64])
def test_unit_equation_terms_sum_exactly_to_z(activation, D):
    weights, x, y = random_net(D=D, hidden=(9, 6), C=4, seed=D, activation=activation)
    trace = forward_trace(weights, activation, x, y)
    for layer in range(1, trace.n_layers + 1):
        for unit in range(trace.widths[layer]):
            eq = unit_equation(trace, layer, unit)
            total = sum(w * a for _, w, a in eq.terms) + eq.rest + eq.bias
            assert total == pytest.approx(eq.z, rel=1e-12, abs=1e-12)
            assert len(eq.terms) + eq.n_rest == trace.widths[layer - 1]
            assert eq.z == trace.zs[layer - 1][unit] and eq.a == trace.activations[layer][unit]
            W = weights[f"W{layer}"]
            for i, w, a in eq.terms:
                assert w == W[unit, i] and a == trace.activations[layer - 1][i]


def test_unit_equation_keeps_the_largest_terms_of_a_wide_layer():
    weights, x, y = random_net(D=64, hidden=(5,), C=3, seed=3)
    trace = forward_trace(weights, "relu", x, y)
    eq = unit_equation(trace, 1, 2)
    assert len(eq.terms) == 6 and eq.n_rest == 58
    products = np.abs(weights["W1"][2] * x)
    shown = [abs(w * a) for _, w, a in eq.terms]
    assert shown == sorted(shown, reverse=True) and min(shown) >= np.sort(products)[-7]
    assert "58 more terms" in linear_latex(eq)[1] and tex_number(eq.z) in linear_latex(eq)[1]
    # a narrow layer shows every term, in order of i
    eq = unit_equation(trace, 2, 0)
    assert [i for i, _, _ in eq.terms] == list(range(5)) and eq.n_rest == 0 and eq.rest == 0


def test_unit_equation_rejects_units_outside_the_network():
    weights, x, y = random_net()
    trace = forward_trace(weights, "elu", x, y)
    for layer, unit in ((0, 0), (4, 0), (1, 7), (1, -1)):
        with pytest.raises(ValueError):
            unit_equation(trace, layer, unit)
    with pytest.raises(ValueError):
        forward_trace(weights, "elu", x, 3)


def test_softmax_regression_has_one_layer_and_float32_weights_are_accepted():
    weights, x, y = random_net(D=2, hidden=(), C=2)
    trace = forward_trace({k: v.astype(np.float32) for k, v in weights.items()}, "tanh", x, y)
    assert trace.n_layers == 1 and trace.layer_name(1) == "output"
    assert trace.zs[0].dtype == np.float64
    np.testing.assert_allclose(trace.zs[0], weights["W1"].astype(np.float32) @ x + weights["b1"].astype(np.float32))
    assert set(trace.units_frame()["layer_name"]) == {"output"}


def test_frames_are_tidy_and_probabilities_sum_to_one():
    weights, x, y = random_net()
    trace = forward_trace(weights, "elu", x, y)
    units = trace.units_frame()
    assert list(units.columns) == ["layer", "layer_name", "unit", "quantity", "value"]
    assert len(units) == 2 * (7 + 4 + 3)
    hidden2_a = units[(units.layer == 2) & (units.quantity == "a")].sort_values("unit")["value"]
    np.testing.assert_array_equal(hidden2_a, trace.activations[2])
    probs = trace.probs_frame(["cat", "dog", "bird"])
    assert probs["probability"].sum() == pytest.approx(1, abs=1e-12)
    assert probs.loc[probs.is_true, "class"].tolist() == [["cat", "dog", "bird"][y]]
    summary = trace.summary_frame()
    assert summary["units"].tolist() == [5, 7, 4, 3] and summary["weights"].tolist() == [0, 42, 32, 15]


def test_softmax_and_loss_latex_show_the_numbers():
    weights, x, y = random_net()
    trace = forward_trace(weights, "elu", x, y)
    formula, numbers = softmax_latex(trace, y)
    assert r"\frac" in formula and numbers.endswith(tex_number(trace.probs[y]))
    assert loss_latex(trace).endswith(f"= {tex_number(trace.loss)}")
    # huge logits: the numbers are shifted by max z and stay finite
    big = {**weights, "W3": weights["W3"] * 1e4}
    trace = forward_trace(big, "elu", x, y)
    assert np.isfinite(trace.probs).all() and np.isfinite(trace.loss)
    assert "no overflow" in softmax_latex(trace, 0)[1] and "inf" not in softmax_latex(trace, 0)[1]


def test_tex_num_writes_numbers_for_katex():
    assert tex_number(1.23456) == "1.235" and tex_number(-2.5e-7) == r"-2.5\times10^{-7}"
    assert tex_number(float("nan")) == r"\text{NaN}" and tex_number(float("-inf")) == r"-\infty"


def test_a_diverged_network_gives_nans_not_errors():
    weights, x, y = random_net()
    weights["W2"] = np.full_like(weights["W2"], np.nan)
    trace = forward_trace(weights, "relu", x, y)
    assert not trace.is_finite and np.isnan(trace.loss) and trace.predicted is None
    assert trace.units_frame().query("layer == 1")["value"].notna().all()
    assert trace.units_frame().query("layer == 2")["value"].isna().all()
    eq = unit_equation(trace, 2, 1)
    assert r"&= \text{NaN} \end{aligned}" in linear_latex(eq)[1]
    assert softmax_latex(trace, 0)[1] == r"p_{0} = \text{NaN}" and loss_latex(trace).endswith(r"= \text{NaN}")
    nodes, edges = diagram_frames(trace, diagram_layers(trace))
    assert nodes["value"].isna().any() and len(edges) == 5 * 7 + 7 * 4 + 4 * 3


def test_diagram_frames_have_one_node_per_unit_and_one_edge_per_weight():
    weights, x, y = random_net()
    trace = forward_trace(weights, "tanh", x, y)
    layers = diagram_layers(trace)
    assert layers == [0, 1, 2, 3]
    nodes, edges = diagram_frames(trace, layers, ["a", "b", "c"])
    assert len(nodes) == 5 + 7 + 4 + 3 and len(edges) == 5 * 7 + 7 * 4 + 4 * 3
    assert nodes.query("layer == 3")["label"].tolist() == ["a", "b", "c"]
    assert nodes.query("layer == 0")["label"].tolist()[:2] == ["x₀", "x₁"]  # indices from 0, as in the equations
    edge = edges.query("layer == 2 and from_unit == 3 and to_unit == 1").iloc[0]
    assert edge["weight"] == weights["W2"][1, 3] and edge["magnitude"] == abs(edge["weight"])
    assert (edge["x"], edge["x2"]) == (1, 2)
    # without the input layer the first drawn column is hidden 1
    nodes, edges = diagram_frames(trace, diagram_layers(trace, include_input=False))
    assert sorted(nodes["layer"].unique()) == [1, 2, 3] and len(edges) == 7 * 4 + 4 * 3


def test_a_large_network_is_not_drawn():
    weights, x, y = random_net(D=2, hidden=(33,), C=2)
    assert diagram_layers(forward_trace(weights, "relu", x, y)) is None
    weights, x, y = random_net(D=2, hidden=(30, 30, 30, 30, 30), C=2)  # 3,720 weights
    trace = forward_trace(weights, "relu", x, y)
    assert sum(v.size for k, v in weights.items() if k.startswith("W")) > MAX_DIAGRAM_EDGES
    assert diagram_layers(trace) is None
    weights, x, y = random_net(D=64, hidden=(8,), C=10)  # images: input too wide, hidden layers drawable
    trace = forward_trace(weights, "relu", x, y)
    assert diagram_layers(trace) is None and diagram_layers(trace, include_input=False) == [1, 2]


def test_negative_zero_is_written_zero():
    assert tex_number(-0.0) == "0" and tex_number(-0.0, brackets=True) == "0"
    assert tex_number(-3.0, brackets=True) == "(-3)" and tex_number(float("inf")) == r"\infty"

"""The Forward pass view's numbers: one sample's trace, unit equations, LaTeX and diagram frames."""

import numpy as np
import pytest

from core.activations import ACTIVATIONS
from core.forward_trace import (
    MAX_DIAGRAM_EDGES,
    diagram_frames,
    diagram_layers,
    forward_trace,
    linear_latex,
    loss_latex,
    softmax_latex,
    unit_equation,
)
from core.latex import tex_number
from core.numpy_mlp import MLP


def random_net(D=5, hidden=(7, 4), C=3, seed=0, activation="elu"):
    """Weights with non-zero biases, one sample and its label."""
    rng = np.random.default_rng(seed)
    mlp = MLP(D, list(hidden), C, activation, rng=rng)
    weights = [(W, 0.3 * rng.standard_normal(b.shape)) for W, b in mlp.get_weights()]
    return weights, rng.standard_normal(D), int(rng.integers(C))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_trace_matches_the_mlp_and_softmax_and_loss_are_consistent(activation):
    weights, x, y = random_net(activation=activation)
    trace = forward_trace(weights, activation, x, y)
    mlp = MLP(5, [7, 4], 3, activation, rng=np.random.default_rng(1))
    mlp.set_weights(weights)
    probs = mlp.forward(x[None])
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
    for (W, b), a_prev, z in zip(weights, trace.activations, trace.zs):
        np.testing.assert_allclose(z, W @ a_prev + b, rtol=1e-12, atol=1e-12)


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
            W, b = weights[layer - 1]
            for i, w, a in eq.terms:
                assert w == W[unit, i] and a == trace.activations[layer - 1][i]


def test_unit_equation_keeps_the_largest_terms_of_a_wide_layer():
    weights, x, y = random_net(D=64, hidden=(5,), C=3, seed=3)
    trace = forward_trace(weights, "relu", x, y)
    eq = unit_equation(trace, 1, 2)
    assert len(eq.terms) == 6 and eq.n_rest == 58
    products = np.abs(weights[0][0][2] * x)
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
    trace = forward_trace([(W.astype(np.float32), b.astype(np.float32)) for W, b in weights], "tanh", x, y)
    assert trace.n_layers == 1 and trace.layer_name(1) == "output"
    assert trace.zs[0].dtype == np.float64
    np.testing.assert_allclose(trace.zs[0], weights[0][0].astype(np.float32) @ x + weights[0][1].astype(np.float32))
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
    big = [(W, b) for W, b in weights[:-1]] + [(weights[-1][0] * 1e4, weights[-1][1])]
    trace = forward_trace(big, "elu", x, y)
    assert np.isfinite(trace.probs).all() and np.isfinite(trace.loss)
    assert "no overflow" in softmax_latex(trace, 0)[1] and "inf" not in softmax_latex(trace, 0)[1]


def test_tex_num_writes_numbers_for_katex():
    assert tex_number(1.23456) == "1.235" and tex_number(-2.5e-7) == r"-2.5\times10^{-7}"
    assert tex_number(float("nan")) == r"\text{NaN}" and tex_number(float("-inf")) == r"-\infty"


def test_a_diverged_network_gives_nans_not_errors():
    weights, x, y = random_net()
    weights[1] = (np.full_like(weights[1][0], np.nan), weights[1][1])
    trace = forward_trace(weights, "relu", x, y)
    assert not trace.is_finite and np.isnan(trace.loss) and trace.predicted is None
    assert trace.units_frame().query("layer == 1")["value"].notna().all()
    assert trace.units_frame().query("layer == 2")["value"].isna().all()
    eq = unit_equation(trace, 2, 1)
    for line in (*linear_latex(eq), *softmax_latex(trace, 0), loss_latex(trace)):
        assert isinstance(line, str)
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
    assert nodes.query("layer == 0")["label"].tolist()[:2] == ["x₁", "x₂"]
    edge = edges.query("layer == 2 and from_unit == 3 and to_unit == 1").iloc[0]
    assert edge["weight"] == weights[1][0][1, 3] and edge["magnitude"] == abs(edge["weight"])
    assert (edge["x"], edge["x2"]) == (1, 2)
    # without the input layer the first drawn column is hidden 1
    nodes, edges = diagram_frames(trace, diagram_layers(trace, include_input=False))
    assert sorted(nodes["layer"].unique()) == [1, 2, 3] and len(edges) == 7 * 4 + 4 * 3


def test_a_large_network_is_not_drawn():
    weights, x, y = random_net(D=2, hidden=(33,), C=2)
    assert diagram_layers(forward_trace(weights, "relu", x, y)) is None
    weights, x, y = random_net(D=2, hidden=(30, 30, 30, 30, 30), C=2)  # 3,720 weights
    trace = forward_trace(weights, "relu", x, y)
    assert sum(W.size for W, _ in weights) > MAX_DIAGRAM_EDGES and diagram_layers(trace) is None
    weights, x, y = random_net(D=64, hidden=(8,), C=10)  # images: input too wide, hidden layers drawable
    trace = forward_trace(weights, "relu", x, y)
    assert diagram_layers(trace) is None and diagram_layers(trace, include_input=False) == [1, 2]


def test_negative_zero_is_written_zero():
    assert tex_number(-0.0) == "0" and tex_number(-0.0, brackets=True) == "0"
    assert tex_number(-3.0, brackets=True) == "(-3)" and tex_number(float("inf")) == r"\infty"

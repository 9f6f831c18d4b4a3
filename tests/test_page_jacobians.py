"""The Jacobians page, opened from the entrypoint as a user would; its numbers recomputed outside the app."""

import re

import pytest

from core.analysis.jacobians import network_jacobian
from core.analysis.notation import tex_number
from core.data import load_dataset
from core.nn.mlp import MLP
from core.training.backends import initial_weights
from tests.helpers import open_page

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks: a second torch thread gains nothing, and on a busy CPU two wait on each other at every op."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def latex(at):
    return " ".join(e.value for e in at.latex)


def captions(at):
    return " ".join(c.value for c in at.caption)


def difference_tables(at):
    """Each module's table of the largest |difference| between the three ways of computing its Jacobian."""
    return [d.value for d in at.dataframe if "pair" in d.value.columns]


def agree(table):
    """Formula and autograd to 1e-8 (the issue's bar); finite differences, with their O(h²) error, to 1e-6."""
    d = table.set_index("pair")["max_abs_diff"]
    return (
        d["formula vs autograd"] < 1e-8
        and d["formula vs finite differences"] < 1e-6 > d["autograd vs finite differences"]
    )


def test_default_page_three_ways_agree_and_backward_is_the_vjp():
    at = open_page("jacobians")
    tables = difference_tables(at)
    assert len(tables) == 2  # layer 1: Linear and tanh
    for table in tables:
        pairs = table.set_index("pair")["max_abs_diff"]
        assert pairs["formula vs autograd"] < 1e-12 and pairs["formula vs finite differences"] < 1e-8
    vjp = [
        float(v) for v in re.findall(r"`backward\(dout\)` differ by at most \*\*([0-9.]+e[+-][0-9]+)\*\*", captions(at))
    ]
    assert len(vjp) == 2 and max(vjp) < 1e-12

    # Two moons, 2 × 8 tanh, seed 42, test sample 0: the same numbers without the app.
    data = load_dataset("moons", n_samples=400, noise=0.2, seed=42)
    weights = initial_weights(2, (8, 8), 2, seed=42)
    assert rf"W^{{(1)}}_{{0,0}} = {tex_number(weights['W1'][0, 0])}" in latex(at)
    net = network_jacobian(MLP.from_weights(weights, "tanh"), data.X_test[0], "logits")
    assert f"σ₀ = {net.singular_values[0]:.3g}" in captions(at)
    chain_vs_torch = float(re.search(r"differs from it by at most ([0-9.]+e[+-][0-9]+)", captions(at)).group(1))
    assert chain_vs_torch < 1e-8
    assert "with sigmoid" in captions(at) and len(at.get("vega_lite_chart")) == 6


def test_output_layer_softmax_and_the_probability_output():
    at = open_page("jacobians", activation="sigmoid")
    assert r"\sigma(z)\,(1 - \sigma(z))" in latex(at)
    at.selectbox(key="w_jac_layer").set_value(3).run()
    assert not at.exception
    assert r"\operatorname{diag}(p) - p\,p^\top" in latex(at)
    assert len(difference_tables(at)) == 2  # Linear and softmax
    assert all(agree(t) for t in difference_tables(at))
    at.radio(key="w_jac_output").set_value("probs").run()
    assert not at.exception
    assert "one σ is always 0" in captions(at) and r"J_{\mathrm{softmax}}" in latex(at)


def test_digits_with_batch_norm_show_the_batch_jacobian_and_saliency_maps():
    at = open_page("jacobians", dataset="digits", batch_norm="1", activation="elu", depth="1", width="16")
    tables = difference_tables(at)
    assert len(tables) == 4  # Linear, batch norm, ELU, and batch norm over a batch
    assert all(agree(t) for t in tables)
    assert "J is (4·16) × (4·16)" in captions(at) and r"\frac{1}{N}" in latex(at)
    assert "Red pixels raise the class's logit" in captions(at)
    assert len(at.image) == 1  # the sample beside its saliency maps
    at.number_input(key="w_jac_batch").set_value(3).run()
    assert not at.exception and "J is (3·16) × (3·16)" in captions(at)
    batch_vjp = float(re.search(r"for the batch: largest difference ([0-9.]+e[+-][0-9]+)", captions(at)).group(1))
    assert batch_vjp < 1e-12


def test_wide_layers_are_pooled_and_the_batch_is_capped():
    at = open_page("jacobians", dataset="digits", depth="1", width="512", batch_norm="1")
    assert "512 × 64 is more than 64 × 64" in captions(at)
    assert at.number_input(key="w_jac_batch").value == 3  # (3·512)² entries fit under the limit, (4·512)² do not
    assert "J is (3·512) × (3·512)" in captions(at)
    assert len(difference_tables(at)) == 4 and all(agree(t) for t in difference_tables(at))

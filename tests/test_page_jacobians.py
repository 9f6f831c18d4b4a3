"""The Jacobians page, opened from the entrypoint as a user would; its numbers recomputed outside the app."""

import re

import numpy as np
import pytest

from core.analysis.jacobians.modules import batchnorm_jacobians, layer_jacobians
from core.analysis.jacobians.network import network_jacobian, spectrum_by_architecture
from core.analysis.text.notation import tex_number
from core.data import load_dataset
from core.nn.mlp import MLP
from core.training.backends import initial_weights
from core.training.batches import draw_batch
from core.training.trainer import Trainer
from tests.page_testing import captions, chart, charts, encoding_fields, latex, open_page, the_trainer

torch = pytest.importorskip("torch")

MOONS = load_dataset("moons", n_samples=400, noise=0.2, seed=42)  # the default data set


def caption_text(at):
    return " ".join(captions(at))


def difference_tables(at):
    """Each module's table of the largest |difference| between the three ways of computing its Jacobian,
    {pair: number} in page order."""
    return [t.value.set_index("methods")["largest |difference|"] for t in at.table if "methods" in t.value.columns]


def assert_tables_show(tables, modules):
    """The page's difference tables are exactly those of ``modules`` (``ModuleJacobians``), recomputed."""
    assert len(tables) == len(modules)
    for shown, mj in zip(tables, modules):
        expected = mj.differences().set_index("pair")["max_abs_diff"]
        np.testing.assert_allclose(shown.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-300)
        assert list(shown.index) == list(expected.index)


def agree(table):
    """Formula and autograd to 1e-8 (the issue's bar); finite differences, with their O(h²) error, to 1e-6."""
    return (
        table["formula vs autograd"] < 1e-8
        and table["formula vs finite differences"] < 1e-6 > table["autograd vs finite differences"]
    )


def test_default_page_three_ways_agree_and_backward_is_the_vjp():
    at = open_page("jacobians")
    # Two moons, 2 × 8 tanh, seed 42, test sample 0: the same numbers without the app.
    weights = initial_weights(2, (8, 8), 2, seed=42)
    mlp, x = MLP.from_weights(weights, "tanh"), MOONS.X_test[0]
    modules = layer_jacobians(mlp, x, 1)
    tables = difference_tables(at)
    assert_tables_show(tables, modules)  # layer 1: Linear and tanh
    assert all(t["formula vs autograd"] < 1e-12 and t["formula vs finite differences"] < 1e-8 for t in tables)
    vjp = re.findall(r"`backward\(dout\)` differ by at most \*\*([0-9.e+-]+)\*\*", caption_text(at))
    assert [float(v) for v in vjp] == [float(f"{mj.vjp.max_abs_diff:.1e}") for mj in modules]
    assert rf"W^{{(1)}}_{{0,0}} = {tex_number(weights['W1'][0, 0])}" in " ".join(latex(at))

    net = network_jacobian(mlp, x, "logits")
    heatmap = chart(at, "∂output/∂input of the whole network").frame_with("class", "value")
    shown = heatmap.pivot(index="row", columns="col", values="value").to_numpy()
    np.testing.assert_allclose(shown, net.jacobian, rtol=1e-12)  # row k = class k, column i = input xᵢ
    assert list(heatmap.drop_duplicates("row").sort_values("row")["class"]) == list(MOONS.class_names)
    sv = chart(at, "Its singular values").frame_with("singular_value")
    np.testing.assert_allclose(sv.sort_values("k")["singular_value"], net.singular_values, rtol=1e-12)
    assert f"σ₀ = {net.singular_values[0]:.3g}, smallest {net.singular_values[-1]:.3g}" in caption_text(at)
    chain_vs_torch = float(re.search(r"differs from it by at most ([0-9.]+e[+-][0-9]+)", caption_text(at)).group(1))
    assert chain_vs_torch < 1e-8

    spectra = spectrum_by_architecture(x, 2, ("sigmoid", "tanh", "relu", "elu"), (1, 4, 8), 8, 42, "logits")
    grid = chart(at, "Singular values at initialization").frame_with("activation", "depth", "singular_value")
    assert set(grid["activation"]) == {"sigmoid", "tanh", "ReLU", "ELU"}  # the names every page uses
    np.testing.assert_allclose(grid["singular_value"], spectra["singular_value"], rtol=1e-12)
    for title in ("Its singular values", "Singular values at initialization", "Singular values before and after"):
        y = next(e for c, e in encoding_fields(chart(at, title).spec) if c == "y")
        ticks = y["axis"]["values"]  # 1-2-5 or whole decades, the axis ending on them: never 0.3, 0.03, 0.000001
        assert all(f"{t:.0e}"[0] in "125" and np.isclose(float(f"{t:.0e}"), t) for t in ticks), title
        assert (
            y["scale"]["domain"] == [min(ticks), max(ticks)] and "format(datum.value, '.0e')" in y["axis"]["labelExpr"]
        )
    deep = spectra[spectra["depth"] == 8].groupby("activation")["singular_value"].max()
    assert f"the largest σ is {deep['sigmoid']:.1e} with sigmoid" in caption_text(at)
    assert f"but {deep['elu']:.2g} with ELU" in caption_text(at)


def test_before_and_after_training_compares_the_initial_and_the_trained_weights():
    at = open_page("jacobians")
    trainer = the_trainer(at)
    x = MOONS.X_test[0]
    before = network_jacobian(MLP.from_weights(trainer.init_weights, "tanh"), x, "logits").singular_values
    copy = Trainer(MOONS, trainer.config.replace(epochs=20))  # not trained yet: a copy trains 300 steps
    for _ in range(300):
        copy.step()
    after = network_jacobian(MLP.from_weights(copy.weights(), "tanh"), x, "logits").singular_values
    frame = chart(at, "Singular values before and after training").frame_with("label", "singular_value")
    shown = {label: g.sort_values("k")["singular_value"].to_numpy() for label, g in frame.groupby("label")}
    np.testing.assert_allclose(shown["initial weights"], before, rtol=1e-12)
    np.testing.assert_allclose(shown["after 300 steps"], after, rtol=1e-10)
    assert f"σ₀ goes from {before[0]:.3g} to {after[0]:.3g}" in caption_text(at)

    for _ in range(5):  # once this run has trained, its own weights are the "after"
        trainer.step()
    at.run()
    trained = network_jacobian(MLP.from_weights(trainer.weights(), "tanh"), x, "logits").singular_values
    frame = chart(at, "Singular values before and after training").frame_with("label", "singular_value")
    shown = {label: g.sort_values("k")["singular_value"].to_numpy() for label, g in frame.groupby("label")}
    np.testing.assert_allclose(shown["after 5 steps"], trained, rtol=1e-12)
    np.testing.assert_allclose(shown["initial weights"], before, rtol=1e-12)  # still the start of this run
    assert f"σ₀ goes from {before[0]:.3g} to {trained[0]:.3g}" in caption_text(at)


def test_output_layer_softmax_and_the_probability_output():
    at = open_page("jacobians", activation="sigmoid")
    assert r"\sigma(z)\,(1 - \sigma(z))" in " ".join(latex(at))
    at.selectbox(key="w_jac_layer").set_value(3).run()
    assert not at.exception
    assert r"\operatorname{diag}(p) - p\,p^\top" in " ".join(latex(at))
    mlp = MLP.from_weights(initial_weights(2, (8, 8), 2, seed=42), "sigmoid")
    assert_tables_show(difference_tables(at), layer_jacobians(mlp, MOONS.X_test[0], 3))  # Linear and softmax
    assert all(agree(t) for t in difference_tables(at))
    at.radio(key="w_jac_output").set_value("probs").run()
    assert not at.exception
    assert "one σ is always 0" in caption_text(at) and r"J_{\mathrm{softmax}}" in " ".join(latex(at))
    probs = network_jacobian(mlp, MOONS.X_test[0], "probs")
    shown = chart(at, "∂output/∂input of the whole network").frame_with("class", "value")
    np.testing.assert_allclose(shown.pivot(index="row", columns="col", values="value"), probs.jacobian, rtol=1e-12)
    np.testing.assert_allclose(shown.groupby("col")["value"].sum(), 0, atol=1e-15)  # probabilities sum to 1


def test_digits_with_batch_norm_show_the_batch_jacobian_and_saliency_maps():
    at = open_page("jacobians", dataset="digits", batch_norm="1", activation="elu", depth="1", width="16")
    trainer = the_trainer(at)
    data, mlp = trainer.data, MLP.from_weights(trainer.weights(), "elu")
    X = data.X_train[draw_batch(len(data.y_train), 4, 42, cap=8).indices]
    modules = [*layer_jacobians(mlp, data.X_test[0], 1), batchnorm_jacobians(mlp, X, 1)]
    assert_tables_show(difference_tables(at), modules)  # Linear, batch norm, ELU, and batch norm over a batch
    assert all(agree(t) for t in difference_tables(at))
    assert "J is (4·16) × (4·16)" in caption_text(at) and r"\frac{1}{N}" in " ".join(latex(at))
    assert "Red pixels raise the class's logit" in caption_text(at)

    J = network_jacobian(mlp, data.X_test[0], "logits").jacobian  # (10, 64)
    saliency = chart(at, "Saliency").frame_with("class", "row", "col", "value")
    for k in (0, 3, 9):  # class k's map is row k of J on the 8 × 8 grid: pixel (r, c) is input 8 r + c
        cells = saliency[saliency["class"] == data.class_names[k]]
        np.testing.assert_allclose(cells["value"], J[k, 8 * cells["row"] + cells["col"]], rtol=1e-12)

    at.number_input(key="w_jac_batch").set_value(3).run()
    assert not at.exception and "J is (3·16) × (3·16)" in caption_text(at)
    batch_vjp = float(
        re.search(r"for the batch: largest difference ([0-9.]+(?:e[+-][0-9]+)?)", caption_text(at)).group(1)
    )
    assert batch_vjp < 1e-12


def test_wide_layers_are_pooled_and_the_batch_is_capped():
    at = open_page("jacobians", dataset="digits", depth="1", width="512", batch_norm="1")
    assert "512 × 64 is more than 64 × 64" in caption_text(at)
    assert at.number_input(key="w_jac_batch").value == 3  # (3·512)² entries fit under the limit, (4·512)² do not
    assert "J is (3·512) × (3·512)" in caption_text(at)
    assert len(difference_tables(at)) == 4 and all(agree(t) for t in difference_tables(at))


def test_a_diverged_run_says_why_there_is_no_jacobian():
    at = open_page("playground", depth="4", width="64", activation="relu", lr="10")
    at.button(key="step_epoch").click().run()
    message = at.error[0].value
    at.switch_page("../pages/jacobians.py").run()
    assert not at.exception  # the last weights kept are finite, but the numbers of the forward pass overflow
    assert [e.value for e in at.error] == [message]
    (warning,) = at.warning
    assert warning.value.startswith("**No Jacobian here:**") and "\n" not in warning.value
    assert not any(c.title.startswith("∂output/∂input") for c in charts(at))  # the page stops there, nothing blank

"""The written-out backward pass against the NumPy MLP and autograd; the chain rule; grad flow."""

import time

import numpy as np
import pytest

from core.activations import ACTIVATIONS
from core.backward_trace import (
    backward_trace,
    chain_rule,
    chain_rule_latex,
    compare_with_autograd,
    pool_max_abs,
    tex_number,
)
from core.data import load_dataset
from core.grad_flow import gradient_norms_by_depth, gradient_ratio_summary
from core.gradcheck import norm_rel_error
from core.numpy_mlp import MLP


def random_net(activation="elu", widths=(6, [16, 12], 5), n=11, seed=0):
    """A float64 MLP with non-zero biases, and a batch (x, y) for it."""
    rng = np.random.default_rng(seed)
    D, hidden, C = widths
    mlp = MLP(D, hidden, C, activation=activation, rng=rng)
    for lin in mlp.layers:
        lin.params["bias"] = 0.1 * rng.standard_normal(lin.params["bias"].shape)
    return mlp, rng.standard_normal((n, D)), rng.integers(0, C, n)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_deltas_and_grads_match_the_mlp_and_autograd(activation):
    torch = pytest.importorskip("torch")
    from core.torch_mlp import TorchMLP

    mlp, x, y = random_net(activation)
    trace = backward_trace(mlp.get_weights(), activation, x, y)
    loss, _ = mlp.loss_and_backward(x, y)
    net = TorchMLP(6, [16, 12], 5, activation, dtype="float64", device="cpu").load_numpy_weights(mlp.get_weights())
    zs, _ = net.forward_all(torch.from_numpy(x))
    torch_loss = torch.nn.functional.cross_entropy(zs[-1], torch.from_numpy(y))
    torch_loss.backward()

    assert abs(trace.loss - loss) < 1e-12 and abs(trace.loss - torch_loss.item()) < 1e-12
    assert len(trace.deltas) == len(zs) == 3
    for delta, mlp_delta, z in zip(trace.deltas, mlp.deltas, zs):
        assert delta.shape == z.shape
        assert norm_rel_error(delta, mlp_delta) < 1e-10
        assert norm_rel_error(delta, z.grad.numpy()) < 1e-10
    for (dW, db), (mW, mb), (tW, tb) in zip(trace.grads, mlp.get_grads(), net.numpy_grads()):
        assert norm_rel_error(dW, mW) < 1e-10 and norm_rel_error(dW, tW) < 1e-10
        assert norm_rel_error(db, mb) < 1e-10 and norm_rel_error(db, tb) < 1e-10
    assert trace.finite


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "elu"])
@pytest.mark.parametrize("n", [1, 11])
def test_chain_rule_terms_give_the_gradient_entry(activation, n):
    mlp, x, y = random_net(activation, n=n, seed=3)
    trace = backward_trace(mlp.get_weights(), activation, x[:n], y[:n])
    for layer, j, i in [(1, 0, 0), (1, 15, 5), (2, 7, 11), (3, 4, 3), (3, 0, 0)]:
        rule = chain_rule(trace, layer, j, i)
        dW = trace.grads[layer - 1][0][j, i]
        assert abs(rule.dW - dW) <= 1e-12 * max(1.0, abs(dW))
        assert rule.dW_trace == dW
        assert len(rule.products) == n
        if layer < 3:  # δ^l_j = (Σ_k W^{l+1}_{kj} δ^{l+1}_k) · f'(z^l_j)
            assert abs(rule.upstream * rule.fprime - trace.deltas[layer - 1][0, j]) <= 1e-12
        else:  # δ^L_j = (p_j − 1[j = y]) / N
            assert abs((rule.prob - rule.target) / n - trace.deltas[-1][0, j]) <= 1e-15


def test_chain_rule_latex_writes_the_numbers():
    mlp, x, y = random_net("sigmoid", seed=1)
    trace = backward_trace(mlp.get_weights(), "sigmoid", x[:1], y[:1])
    hidden = chain_rule(trace, 2, 3, 4)
    text = " ".join(chain_rule_latex(hidden, "sigmoid"))
    for value in (hidden.dW, hidden.fprime, hidden.upstream, hidden.z, hidden.a_prev[0]):
        assert tex_number(value) in text
    assert r"\sigma(z)" in text and r"W^{2}_{3,4}" in text and r"\sum_{k=0}^{4}" in text

    output = chain_rule(trace, 3, int(y[0]), 0)
    text = " ".join(chain_rule_latex(output, "sigmoid"))
    assert tex_number(output.prob) in text and r"\mathbf{1}" in text and " - 1}{1}" in text
    assert output.target == 1.0

    batch = backward_trace(mlp.get_weights(), "sigmoid", x, y)
    text = " ".join(chain_rule_latex(chain_rule(batch, 1, 0, 0), "sigmoid"))
    assert r"\sum_{n=1}^{11}" in text and r"\cdots" in text


def test_chain_rule_clips_indices_out_of_range():
    mlp, x, y = random_net()
    trace = backward_trace(mlp.get_weights(), "elu", x, y)
    rule = chain_rule(trace, 99, 99, -5)
    assert (rule.layer, rule.j, rule.i) == (3, 4, 0) and rule.is_output


def test_tex_number():
    assert tex_number(0.5) == "0.5"
    assert tex_number(-0.001234567) == "(-0.001235)"
    assert tex_number(1.5e-7) == r"1.5\times10^{-7}"
    assert tex_number(float("nan")) == r"\text{NaN}" and tex_number(-0.0) == "0"


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_compare_with_autograd_agrees_in_float64(activation):
    pytest.importorskip("torch")
    mlp, x, y = random_net(activation, seed=2)
    cmp = compare_with_autograd(mlp.get_weights(), activation, x, y)
    assert list(cmp.columns) == ["layer", "quantity", "shape", "max_abs_diff", "max_rel_diff", "numpy_norm",
                                 "torch_norm", "finite"]  # fmt: skip
    assert len(cmp) == 9 and set(cmp["layer"]) == {1, 2, 3}
    assert (cmp["max_abs_diff"] < 1e-12).all() and (cmp["max_rel_diff"] < 1e-8).all()
    assert cmp["finite"].all()
    assert np.allclose(cmp["numpy_norm"], cmp["torch_norm"], rtol=1e-12)
    assert cmp.loc[cmp["quantity"] == "∂L/∂W", "shape"].tolist() == ["16 × 6", "12 × 16", "5 × 12"]


def test_compare_with_autograd_in_float32_is_close_but_not_exact():
    pytest.importorskip("torch")
    mlp, x, y = random_net("tanh", seed=2)
    cmp = compare_with_autograd(mlp.get_weights(), "tanh", x, y, dtype="float32")
    assert (cmp["max_abs_diff"] < 1e-5).all()
    assert cmp["max_abs_diff"].max() > 1e-12  # float32 round-off shows; float64 would be ~1e-17


def test_nan_weights_are_flagged_not_raised():
    mlp, x, y = random_net()
    weights = mlp.get_weights()
    weights[1][0][0, 0] = np.nan
    trace = backward_trace(weights, "elu", x, y)
    assert not trace.finite and np.isnan(trace.loss)
    text = " ".join(chain_rule_latex(chain_rule(trace, 1, 0, 0), "elu"))
    assert r"\text{NaN}" in text
    infinite = [(np.full_like(W, np.inf), b) for W, b in mlp.get_weights()]
    assert not backward_trace(infinite, "relu", x, y).finite
    pytest.importorskip("torch")
    cmp = compare_with_autograd(weights, "elu", x, y)
    assert not cmp["finite"].any() and cmp["max_abs_diff"].isna().all()


def test_no_hidden_layer_is_softmax_regression():
    mlp, x, y = random_net("elu", widths=(6, [], 5))
    trace = backward_trace(mlp.get_weights(), "elu", x, y)
    mlp.loss_and_backward(x, y)
    assert trace.n_layers == 1 and trace.fprimes == [] and len(trace.deltas) == 1
    assert norm_rel_error(trace.grads[0][0], mlp.get_grads()[0][0]) < 1e-12
    rule = chain_rule(trace, 1, 2, 3)
    assert rule.is_output and abs(rule.dW - trace.grads[0][0][2, 3]) < 1e-12


def test_pool_max_abs_keeps_the_signed_largest_entry():
    M = np.arange(24.0).reshape(4, 6) - 12  # (4, 6)
    pooled, rows, cols = pool_max_abs(M, max_rows=2, max_cols=3)
    assert pooled.shape == (2, 3) and rows.tolist() == [0, 2] and cols.tolist() == [0, 2, 4]
    assert pooled.tolist() == [[-12.0, -10.0, -8.0], [7.0, 9.0, 11.0]]
    same, _, _ = pool_max_abs(M)
    assert same is M or np.array_equal(same, M)
    big = np.random.default_rng(0).standard_normal((512, 784))
    pooled, rows, cols = pool_max_abs(big)
    assert pooled.shape[0] <= 64 and pooled.shape[1] <= 64
    assert pooled.max() == big.max() and pooled.min() == big.min()
    with_nan = big.copy()
    with_nan[100, 100] = np.nan
    assert np.isnan(pool_max_abs(with_nan)[0]).sum() == 1


@pytest.mark.parametrize("name", ["digits", "moons"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_sigmoid_gradients_vanish_and_elu_gradients_do_not(name, seed):
    data = load_dataset(name, n_samples=400, noise=0.2, seed=42)
    norms = gradient_norms_by_depth(data, ("sigmoid", "elu"), depth=8, width=32, steps=2, seed=seed)
    ratio = gradient_ratio_summary(norms).set_index("activation")["ratio"]
    # Measured over 15 seeds on six data sets: sigmoid ≤ 5e-4, ELU ≥ 0.15.
    assert ratio["sigmoid"] < 1e-2
    assert ratio["elu"] > 0.1


def test_gradient_norms_by_depth_is_tidy_and_fast():
    data = load_dataset("digits")
    t0 = time.perf_counter()
    norms = gradient_norms_by_depth(data, ("sigmoid", "relu", "elu"), steps=100)
    assert time.perf_counter() - t0 < 2.0
    assert list(norms.columns) == ["activation", "layer", "step", "grad_norm"]
    assert len(norms) == 3 * 9 * 100
    assert set(norms["layer"]) == set(range(1, 10)) and norms["step"].max() == 100
    assert (norms["grad_norm"] > 0).all()
    summary = gradient_ratio_summary(norms)
    assert summary["activation"].tolist() == ["sigmoid", "relu", "elu"]
    first = norms[(norms["step"] == 1) & (norms["layer"] == 1)].set_index("activation")["grad_norm"]
    assert np.allclose(summary.set_index("activation")["first_norm"], first)

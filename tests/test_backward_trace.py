"""The written-out backward pass against the NumPy MLP and autograd; the chain rule; grad flow."""

import numpy as np
import pytest

from core.analysis.text.chain_rule import chain_rule, chain_rule_latex
from core.analysis.text.notation import tex_number
from core.analysis.traces.autograd_check import compare_with_autograd
from core.analysis.traces.backward_trace import backward_trace, delta_frame, matrix_frame, pool_max_abs
from core.analysis.traces.grad_flow import gradient_norms_by_depth, gradient_ratio_summary
from core.data import load_dataset
from core.nn.activations import ACTIVATIONS, make_activation
from core.nn.gradcheck import norm_rel_error
from core.numpy_mlp import MLP


def random_net(activation="elu", widths=(6, [16, 12], 5), n=11, seed=0, batch_norm=False):
    """A float64 MLP with non-zero biases (and γ ≠ 1, β ≠ 0), and a batch (x, y) for it."""
    rng = np.random.default_rng(seed)
    D, hidden, C = widths
    mlp = MLP(D, hidden, C, activation=activation, rng=rng, batch_norm=batch_norm)
    w = mlp.get_weights()
    for k in w:
        if k.startswith(("b", "gamma")):
            w[k] = w[k] + 0.1 * rng.standard_normal(w[k].shape)
    mlp.set_weights(w)
    return mlp, rng.standard_normal((n, D)), rng.integers(0, C, n)


def latex_of(rule, trace):
    l = rule.layer
    module = trace.mlp.nonlinearities[l - 1] if l < trace.n_layers else None
    return " ".join(chain_rule_latex(rule, module, trace.activation))


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_deltas_and_grads_are_the_mlps_and_match_autograd(activation, batch_norm):
    torch = pytest.importorskip("torch")
    from core.nn.torch_mlp import TorchMLP

    mlp, x, y = random_net(activation, batch_norm=batch_norm)
    weights = mlp.get_weights()
    before = {k: v.copy() for k, v in weights.items()}
    trace = backward_trace(weights, activation, x, y)
    loss, _ = mlp.loss_and_backward(x, y)
    net = TorchMLP(6, [16, 12], 5, activation, dtype="float64", device="cpu", batch_norm=batch_norm)
    net.load_numpy_weights(weights)
    zs, bn_outs, _ = net.forward_all(torch.from_numpy(x))
    torch_loss = torch.nn.functional.cross_entropy(zs[-1], torch.from_numpy(y))
    torch_loss.backward()

    assert trace.loss == loss and abs(trace.loss - torch_loss.item()) < 1e-12
    assert len(trace.deltas) == len(zs) == 3 and len(trace.bn_deltas) == (2 if batch_norm else 0)
    for delta, mlp_delta, z in zip(trace.deltas, mlp.deltas, zs):
        assert np.array_equal(delta, mlp_delta)  # the MLP's own backward, not a copy of it
        assert norm_rel_error(delta, z.grad.numpy()) < 1e-10
    for du, u in zip(trace.bn_deltas, bn_outs):
        assert norm_rel_error(du, u.grad.numpy()) < 1e-10
    torch_grads = net.numpy_grads()
    assert set(trace.grads) == set(torch_grads)
    for name, g in trace.grads.items():  # (β before a batch norm of an identity net has gradient 0: round-off)
        assert np.array_equal(g, mlp.get_grads()[name])
        assert np.abs(g - torch_grads[name]).max() <= 1e-10 * max(np.abs(g).max(), 1e-5), name
    assert trace.is_finite and trace.mode == "train"
    assert all(np.array_equal(weights[k], before[k]) for k in weights)  # the caller's weights untouched


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "elu"])
@pytest.mark.parametrize("n", [1, 11])
def test_chain_rule_terms_give_the_gradient_entry(activation, n):
    mlp, x, y = random_net(activation, n=n, seed=3)
    trace = backward_trace(mlp.get_weights(), activation, x[:n], y[:n])
    for layer, j, i in [(1, 0, 0), (1, 15, 5), (2, 7, 11), (3, 4, 3), (3, 0, 0)]:
        rule = chain_rule(trace, layer, j, i)
        dW = trace.grads[f"W{layer}"][j, i]
        assert abs(rule.dW - dW) <= 1e-12 * max(1.0, abs(dW))
        assert len(rule.products) == n
        if layer < 3:  # δ⁽ˡ⁾_j = (Σ_k W⁽ˡ⁺¹⁾_{kj} δ⁽ˡ⁺¹⁾_k) · f'(z⁽ˡ⁾_j)
            assert abs(rule.upstream * rule.fprime - trace.deltas[layer - 1][0, j]) <= 1e-12
        else:  # δ^L_j = (p_j − 1[j = y]) / N
            assert abs((rule.prob - rule.target) / n - trace.deltas[-1][0, j]) <= 1e-15


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("activation", ["elu", "relu", "tanh"])
def test_chain_rule_through_batch_norm_gives_delta(activation, mode):
    mlp, x, y = random_net(activation, seed=4, batch_norm=True)
    mlp.train().forward(x + 1)  # running estimates away from 0 and 1, so eval mode differs from training mode
    trace = backward_trace(mlp.get_weights(), activation, x, y, mode=mode)
    for layer, j, n in [(1, 3, 0), (1, 15, 6), (2, 5, 10)]:
        rule = chain_rule(trace, layer, j, 0, n=n)
        bn = rule.bn
        if mode == "train":  # δ = γ/(Nσ) · (N du − Σ du − x̂ Σ du x̂)
            N = len(y)
            delta = bn["gamma"] * bn["inv_std"] / N * (N * rule.du - bn["sum_du"] - bn["x_hat"] * bn["sum_du_xhat"])
        else:  # δ = γ/σ · du with the running variance
            delta = bn["gamma"] * bn["inv_std"] * rule.du
        assert abs(delta - trace.deltas[layer - 1][n, j]) <= 1e-12 * max(1.0, abs(delta))
        assert abs(rule.du - rule.upstream * rule.fprime) <= 1e-12
        assert tex_number(rule.delta[n], brackets=True) in latex_of(rule, trace)


def test_chain_rule_latex_writes_the_numbers_with_indices_from_zero():
    mlp, x, y = random_net("sigmoid", seed=1)
    trace = backward_trace(mlp.get_weights(), "sigmoid", x[:1], y[:1])
    hidden = chain_rule(trace, 2, 3, 4)
    text = latex_of(hidden, trace)
    for value in (hidden.dW, hidden.fprime, hidden.upstream, hidden.u, hidden.a_prev[0]):
        assert tex_number(value, brackets=True) in text or tex_number(value) in text
    assert r"\sigma(z)" in text and r"W^{(2)}_{3,4}" in text and r"\sum_{k=0}^{4}" in text and "a^{(1)}_{4}" in text

    output = chain_rule(trace, 3, int(y[0]), 0)
    text = latex_of(output, trace)
    assert tex_number(output.prob) in text and r"\mathbf{1}" in text and " - 1}{1}" in text
    assert output.target == 1.0

    first = latex_of(chain_rule(trace, 1, 0, 1), trace)
    assert "x_{1}" in first  # input x₁ is the second feature, the one charts call x₁

    batch = backward_trace(mlp.get_weights(), "sigmoid", x, y)
    text = latex_of(chain_rule(batch, 1, 0, 0, n=2), batch)
    assert r"\sum_{n=0}^{10}" in text and r"\cdots" in text and r"\delta^{(1)}_{2,0}" in text


def test_chain_rule_clips_indices_out_of_range():
    mlp, x, y = random_net()
    trace = backward_trace(mlp.get_weights(), "elu", x, y)
    rule = chain_rule(trace, 99, 99, -5, n=50)
    assert (rule.layer, rule.j, rule.i, rule.n) == (3, 4, 0, 10) and rule.is_output


def test_tex_number():
    assert tex_number(0.5) == "0.5"
    assert tex_number(-0.001234567, brackets=True) == "(-0.001235)" and tex_number(-0.5) == "-0.5"
    assert tex_number(1.5e-7) == r"1.5\times10^{-7}"
    assert tex_number(float("nan")) == r"\text{NaN}" and tex_number(-0.0) == "0"


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_compare_with_autograd_agrees_in_float64(activation, batch_norm):
    pytest.importorskip("torch")
    mlp, x, y = random_net(activation, seed=2, batch_norm=batch_norm)
    trace = backward_trace(mlp.get_weights(), activation, x, y)
    cmp, autograd = compare_with_autograd(trace)
    assert list(cmp.columns) == [
        "layer",
        "quantity",
        "shape",
        "max_abs_diff",
        "max_rel_diff",
        "numpy_norm",
        "torch_norm",
        "finite",
    ]
    hidden = ["δ = ∂L/∂z", "∂L/∂W"] + (["∂L/∂γ", "∂L/∂β"] if batch_norm else ["∂L/∂b"])
    assert cmp[cmp.layer == 1]["quantity"].tolist() == hidden
    assert cmp[cmp.layer == 3]["quantity"].tolist() == ["δ = ∂L/∂z", "∂L/∂W", "∂L/∂b"]
    assert (cmp["max_abs_diff"] < 1e-12).all() and cmp["finite"].all()
    assert (cmp.loc[cmp["numpy_norm"] > 1e-8, "max_rel_diff"] < 1e-8).all()  # (not for gradients that are 0)
    assert np.allclose(cmp["numpy_norm"], cmp["torch_norm"], rtol=1e-12)
    assert cmp.loc[cmp["quantity"] == "∂L/∂W", "shape"].tolist() == ["16 × 6", "12 × 16", "5 × 12"]
    assert abs(autograd["grads"]["W2"][3, 4] - trace.grads["W2"][3, 4]) < 1e-15


def test_compare_with_autograd_in_float32_is_close_but_not_exact():
    pytest.importorskip("torch")
    mlp, x, y = random_net("tanh", seed=2)
    cmp, _ = compare_with_autograd(backward_trace(mlp.get_weights(), "tanh", x, y), dtype="float32")
    assert (cmp["max_abs_diff"] < 1e-5).all()
    assert cmp["max_abs_diff"].max() > 1e-12  # float32 round-off shows; float64 would be ~1e-17


def test_nan_weights_are_flagged_not_raised():
    mlp, x, y = random_net()
    weights = mlp.get_weights()
    weights["W2"][0, 0] = np.nan
    trace = backward_trace(weights, "elu", x, y)
    assert not trace.is_finite and np.isnan(trace.loss)
    assert r"\text{NaN}" in latex_of(chain_rule(trace, 1, 0, 0), trace)
    infinite = {k: np.full_like(v, np.inf) if k.startswith("W") else v for k, v in mlp.get_weights().items()}
    assert not backward_trace(infinite, "relu", x, y).is_finite
    pytest.importorskip("torch")
    cmp, _ = compare_with_autograd(trace)
    assert not cmp["finite"].any() and cmp["max_abs_diff"].isna().all()


def test_no_hidden_layer_is_softmax_regression():
    mlp, x, y = random_net("elu", widths=(6, [], 5))
    trace = backward_trace(mlp.get_weights(), "elu", x, y)
    mlp.loss_and_backward(x, y)
    assert trace.n_layers == 1 and trace.fprimes == [] and len(trace.deltas) == 1
    assert np.array_equal(trace.grads["W1"], mlp.get_grads()["W1"])
    rule = chain_rule(trace, 1, 2, 3)
    assert rule.is_output and abs(rule.dW - trace.grads["W1"][2, 3]) < 1e-12


def test_fprimes_come_from_the_activation_module():
    mlp, x, y = random_net("elu", seed=5)
    trace = backward_trace(mlp.get_weights(), "elu", x, y)
    f = make_activation("elu")
    f.forward(trace.zs[0])
    assert np.array_equal(trace.fprimes[0], f.backward(np.ones_like(trace.zs[0])))


def test_delta_frame_shows_one_samples_delta_scaled_per_layer():
    mlp, x, y = random_net("tanh", seed=6)
    trace = backward_trace(mlp.get_weights(), "tanh", x, y)
    frame = delta_frame(trace, n=3)
    assert frame["layer"].unique().tolist() == ["hidden 1", "hidden 2", "output"]
    out = frame[frame.layer == "output"].sort_values("position")
    assert np.array_equal(out["delta"].to_numpy(), trace.deltas[2][3])
    peak = np.abs(trace.deltas[2][3]).max()
    assert np.allclose(out["scaled"], trace.deltas[2][3] / peak) and np.isclose(np.abs(out["scaled"]).max(), 1)
    assert (out["layer_max"] == peak).all()


def test_matrix_frame_pools_blocks_and_names_the_units():
    M = np.arange(130 * 3, dtype=float).reshape(130, 3)
    frame, (r, c) = matrix_frame(M)
    assert (r, c) == (3, 1) and frame["row"].max() == 43
    assert frame.loc[frame.row == 1, "rows"].iloc[0] == "3–5"
    assert frame.loc[(frame.row == 1) & (frame.col == 2), "value"].iloc[0] == M[5, 2]


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


def test_gradient_norms_by_depth_is_tidy():
    data = load_dataset("digits")
    norms = gradient_norms_by_depth(data, ("sigmoid", "relu", "elu"), steps=100)
    assert list(norms.columns) == ["activation", "layer", "step", "grad_norm"]
    assert len(norms) == 3 * 9 * 100
    assert set(norms["layer"]) == set(range(1, 10)) and norms["step"].max() == 100
    assert (norms["grad_norm"] > 0).all()
    summary = gradient_ratio_summary(norms)
    assert summary["activation"].tolist() == ["sigmoid", "relu", "elu"]
    first = norms[(norms["step"] == 1) & (norms["layer"] == 1)].set_index("activation")["grad_norm"]
    assert np.allclose(summary.set_index("activation")["first_norm"], first)

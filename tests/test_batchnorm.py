"""Batch norm by hand: finite differences, torch.nn.BatchNorm1d from identical weights, the MLP with it."""

import numpy as np
import pytest

from core.nn.gradcheck import check_mlp_gradients, eval_numerical_gradient_array, rel_error
from core.nn.mlp import MLP
from core.numpy_mlp import BatchNormModule
from core.training.backends import initial_weights, make_backend
from core.training.config import ConfigError, TrainConfig, n_parameters, validate

torch = pytest.importorskip("torch")


def module_and_batch(N=12, H=5, seed=0):
    rng = np.random.default_rng(seed)
    bn = BatchNormModule(H)
    bn.params["weight"] = 1 + 0.5 * rng.standard_normal(H)  # γ ≠ 1 and β ≠ 0, so wrong dγ, dβ would show
    bn.params["bias"] = 0.3 * rng.standard_normal(H)
    x = 3 + 2 * rng.standard_normal((N, H))  # mean and scale away from 0 and 1
    return bn, x, rng.standard_normal((N, H))


def torch_twin(bn):
    t = torch.nn.BatchNorm1d(len(bn.params["weight"]), eps=bn.eps, momentum=bn.momentum).double()
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(bn.params["weight"]))
        t.bias.copy_(torch.from_numpy(bn.params["bias"]))
        t.running_mean.copy_(torch.from_numpy(bn.running_mean))
        t.running_var.copy_(torch.from_numpy(bn.running_var))
    return t


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_backward_and_running_statistics_match_torch(mode):
    bn, x, dout = module_and_batch()
    bn.running_mean, bn.running_var = np.full(5, 0.5), np.full(5, 2.0)
    t = torch_twin(bn)
    getattr(bn, mode)(), getattr(t, mode)()
    for step in range(4):  # several steps: the running estimates accumulate
        xs = x + step
        out = bn.forward(xs)
        dx = bn.backward(dout)
        xt = torch.from_numpy(xs).requires_grad_()
        out_t = t(xt)
        out_t.backward(torch.from_numpy(dout))
        assert np.abs(out - out_t.detach().numpy()).max() < 1e-10
        assert np.abs(dx - xt.grad.numpy()).max() < 1e-10
        assert np.abs(bn.grads["weight"] - t.weight.grad.numpy()).max() < 1e-10
        assert np.abs(bn.grads["bias"] - t.bias.grad.numpy()).max() < 1e-10
        t.weight.grad = t.bias.grad = None
    assert np.abs(bn.running_mean - t.running_mean.numpy()).max() < 1e-10
    assert np.abs(bn.running_var - t.running_var.numpy()).max() < 1e-10
    if mode == "train":  # the estimates moved, with the unbiased variance
        assert not np.allclose(bn.running_var, 2.0)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_backward_matches_finite_differences(mode):
    bn, x, dout = module_and_batch(N=7, H=4, seed=1)
    bn.running_mean, bn.running_var = x.mean(axis=0) + 0.2, x.var(axis=0) * 1.5
    getattr(bn, mode)()
    frozen = (bn.running_mean.copy(), bn.running_var.copy())

    def f(_):
        out = bn.forward(x, update_stats=False)
        bn.running_mean, bn.running_var = frozen
        return out

    bn.forward(x, update_stats=False)
    dx = bn.backward(dout)
    dgamma, dbeta = bn.grads["weight"].copy(), bn.grads["bias"].copy()
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(f, bn.params["weight"], dout)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(f, bn.params["bias"], dout)) < 1e-7


def test_a_single_sample_is_refused_in_training_mode_but_fine_in_eval():
    bn, x, _ = module_and_batch()
    with pytest.raises(ValueError, match="at least 2 samples"):
        bn.forward(x[:1])
    assert np.isfinite(bn.eval().forward(x[:1])).all()
    with pytest.raises(ConfigError, match="batch size of at least 2"):
        validate(TrainConfig(batch_norm=True, batch_size=1))


def test_update_stats_false_leaves_the_running_estimates_alone():
    bn, x, _ = module_and_batch()
    before = bn.running_mean.copy(), bn.running_var.copy()
    bn.forward(x, update_stats=False)
    assert np.array_equal(before[0], bn.running_mean) and np.array_equal(before[1], bn.running_var)


@pytest.mark.parametrize("activation", ["elu", "relu", "tanh", "sigmoid"])
def test_mlp_with_batch_norm_matches_finite_differences(activation):
    rng = np.random.default_rng(2)
    mlp = MLP(5, [8, 6], 4, activation, rng=rng, batch_norm=True)
    w = mlp.get_weights()
    for k in w:
        if k.startswith(("b", "gamma", "beta")):
            w[k] = w[k] + 0.2 * rng.standard_normal(w[k].shape)
    mlp.set_weights(w)
    x, y = rng.standard_normal((9, 5)), rng.integers(0, 4, 9)
    rows = check_mlp_gradients(mlp, x, y)
    assert [r["param"] for r in rows] == ["W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"]
    assert max(r["rel_error"] for r in rows) < 1e-6


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_fifty_steps_with_batch_norm_give_the_same_run_in_both_backends(optimizer):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((64, 10)), rng.integers(0, 3, 64)
    config = TrainConfig(
        hidden_dims=(16, 12),
        batch_norm=True,
        optimizer=optimizer,
        weight_decay=1e-3,
        lr=0.01 if optimizer == "adam" else 0.1,
        dtype="float64",
    )
    w0 = initial_weights(10, config.hidden_dims, 3, seed=7, batch_norm=True)
    runs = {}
    for name in ("numpy", "torch"):
        backend = make_backend(name, 10, 3, config, w0)
        losses = [
            backend.train_step(X[i % 4 * 16 : i % 4 * 16 + 16], y[i % 4 * 16 : i % 4 * 16 + 16])[0] for i in range(50)
        ]
        runs[name] = (np.array(losses), backend.get_weights(), backend.predict_proba(X))
    (a, wa, pa), (b, wb, pb) = runs["numpy"], runs["torch"]
    assert a[-1] < a[0]
    assert np.max(np.abs(a - b) / np.abs(b)) < 1e-8
    assert set(wa) == set(wb) and {"running_mean2", "running_var2"} <= set(wa)
    assert max(np.abs(wa[k] - wb[k]).max() for k in wa) < 1e-8  # parameters and running estimates
    assert np.abs(pa - pb).max() < 1e-8  # eval mode: the running estimates


def test_eval_predictions_do_not_depend_on_the_batch_but_training_ones_do():
    rng = np.random.default_rng(4)
    mlp = MLP(3, [6], 2, rng=rng, batch_norm=True)
    x = rng.standard_normal((8, 3))
    mlp.train().forward(x)  # moves the running estimates
    mlp.eval()
    alone, in_batch = mlp.forward(x[:1]), mlp.forward(x)[:1]
    assert np.abs(alone - in_batch).max() < 1e-12
    mlp.train()
    with_others = mlp.forward(x[:4])[:1]
    with_different = mlp.forward(np.vstack([x[:1], 5 + x[4:7]]))[:1]
    assert np.abs(with_others - with_different).max() > 1e-3


def test_weights_round_trip_exactly_through_torch_and_npz(tmp_path):
    from core.nn.torch_mlp import TorchMLP

    mlp = MLP(4, [5, 3], 2, rng=np.random.default_rng(5), batch_norm=True)
    mlp.train().forward(np.random.default_rng(6).standard_normal((10, 4)))
    w = mlp.get_weights()
    net = TorchMLP(4, [5, 3], 2, device="cpu", batch_norm=True).load_numpy_weights(w)
    back = net.numpy_weights()
    assert list(back) == list(w) and all(np.array_equal(w[k], back[k]) for k in w)
    np.savez(tmp_path / "w.npz", **w)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:
        again = MLP.from_weights({k: f[k] for k in f.files}, "elu")
    assert again.batch_norm and all(np.array_equal(w[k], again.get_weights()[k]) for k in w)


def test_parameter_count_counts_gamma_and_beta_but_not_the_buffers():
    mlp = MLP(64, [128], 10, batch_norm=True)
    assert mlp.n_parameters() == 64 * 128 + 2 * 128 + 128 * 10 + 10  # no bias before batch norm: γ, β instead
    assert n_parameters(64, (128,), 10, batch_norm=True) == mlp.n_parameters()
    assert list(mlp.get_weights()) == ["W1", "gamma1", "beta1", "running_mean1", "running_var1", "W2", "b2"]

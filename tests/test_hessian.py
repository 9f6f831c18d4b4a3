"""The Hessian of a real network's loss: products, Lanczos, trace, density and the loss landscape."""

import functools

import numpy as np
import pytest
import torch

from core.analysis.curvature import hessian
from core.analysis.curvature.hessian import (
    MAX_PARAMETERS,
    MAX_SAMPLES,
    ZERO,
    HessianError,
    HessianLimitError,
    LossHessian,
    full_hessian,
    hessian_eigenvalues,
    hessian_top_eigenvalues,
    hutchinson_trace,
    lanczos_tridiagonal,
    most_negative_eigenvalue,
    spectral_density,
    top_eigenvalues,
)
from core.analysis.curvature.landscape import (
    filter_normalized_direction,
    loss_along,
    loss_plane,
    spectrum_over_training,
)
from core.data import load_dataset
from core.nn.mlp import MLP
from core.threads import one_thread
from core.training.backends import initial_weights
from core.training.config import TrainConfig

BN = pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batch-norm"])


def batch(D=5, C=3, N=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.integers(0, C, N)


def small(batch_norm, hidden=(12, 10), activation="elu", D=5, C=3, N=40):
    """A LossHessian of a net with a few hundred parameters (235 plain, 257 with batch norm)."""
    X, y = batch(D, C, N)
    return LossHessian(initial_weights(D, hidden, C, seed=1, batch_norm=batch_norm), activation, X, y)


@functools.cache
def exact_hessian(batch_norm):
    """The full Hessian of ``small(batch_norm)`` (P, P), built once per test session."""
    return small(batch_norm).full()


def numpy_gradient(H, theta, buffers):
    """∇L at θ from the NumPy MLP's hand-derived backward (training mode): independent of torch."""
    mlp = MLP.from_weights({**H.unflatten(theta), **buffers}, "elu").train()
    mlp.loss_and_backward(H.X.numpy(), H.y.numpy())
    return H.flatten(mlp.get_grads())


@BN
def test_hvp_matches_central_differences_of_hand_derived_gradients(batch_norm):
    H = small(batch_norm)
    weights = initial_weights(5, (12, 10), 3, seed=1, batch_norm=batch_norm)
    buffers = {k: v for k, v in weights.items() if k.startswith("running")}
    theta, eps = H.theta.numpy(), 1e-5
    assert np.allclose(numpy_gradient(H, theta, buffers), H.gradient(), atol=1e-14)
    for seed in range(3):
        v = np.random.default_rng(seed).standard_normal(H.size)
        fd = (numpy_gradient(H, theta + eps * v, buffers) - numpy_gradient(H, theta - eps * v, buffers)) / (2 * eps)
        Hv = H.hvp(v)
        assert np.linalg.norm(Hv - fd) <= 1e-7 * np.linalg.norm(fd)
    assert H.n_hvp == 3


@BN
def test_full_hessian_is_symmetric_and_matches_the_products(batch_norm):
    H = small(batch_norm)
    full = exact_hessian(batch_norm)
    assert full.shape == (H.size, H.size) and np.abs(full - full.T).max() < 1e-12
    V = np.random.default_rng(5).standard_normal((H.size, 4))
    assert np.allclose(full @ V, np.stack([H.hvp(v) for v in V.T], axis=1), atol=1e-12)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's forward-mode AD loads jit decompositions
def test_full_hessian_agrees_with_torch_func_hessian_without_batch_norm():
    H = small(False)
    expected = torch.func.hessian(H.loss_at)(H.theta).numpy()
    assert np.abs(exact_hessian(False) - expected).max() < 1e-12


@BN
def test_lanczos_top_k_matches_eigvalsh_of_the_full_hessian(batch_norm):
    H = small(batch_norm)
    exact = np.linalg.eigvalsh(exact_hessian(batch_norm))[::-1]  # descending
    eig = top_eigenvalues(H, k=5, tol=0)
    assert np.all(np.abs(eig.values - exact[:5]) <= 1e-6 * np.abs(exact[:5]))
    assert np.all(np.diff(eig.values) < 0)
    assert np.allclose(np.linalg.norm(eig.vectors, axis=0), 1)
    for i in range(5):  # H u = λ u
        assert np.linalg.norm(H.hvp(eig.vectors[:, i]) - eig.values[i] * eig.vectors[:, i]) < 1e-8
    assert 10 <= eig.n_hvp < H.size  # Lanczos never needs the whole matrix


@BN
def test_most_negative_eigenvalue_matches_the_full_hessian(batch_norm):
    H = small(batch_norm)
    exact = np.linalg.eigvalsh(exact_hessian(batch_norm))[0]
    neg = most_negative_eigenvalue(H, tol=0)
    assert exact < 0 and abs(neg.values[0] - exact) <= 1e-6 * abs(exact)
    assert neg.vectors.shape == (H.size, 1)


@BN
def test_hutchinson_trace_is_within_three_standard_errors(batch_norm):
    H = small(batch_norm)
    exact = np.trace(exact_hessian(batch_norm))
    est = hutchinson_trace(H, n_probes=300, seed=0)
    assert est.stderr > 0 and abs(est.value - exact) <= 3 * est.stderr
    assert est.stderr < 0.15 * abs(exact)  # informative, not a wide interval that always holds
    assert est.n_hvp == 300


def test_lanczos_with_full_reorthogonalization_recovers_every_eigenvalue():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    lam = np.concatenate([np.geomspace(1e-3, 10, 50), -np.geomspace(1e-3, 0.5, 10)])  # a wide spread, like a Hessian
    A = (Q * lam) @ Q.T
    alpha, beta = lanczos_tridiagonal(lambda v: A @ v, rng.standard_normal(60), 60)
    assert len(alpha) == 60 and np.allclose(
        np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)), np.sort(lam), atol=1e-9
    )


def test_density_from_full_lanczos_finds_the_extremes_and_the_negative_share():
    H = small(False, hidden=(6, 6))  # 99 parameters: 100 Lanczos steps span the whole space
    exact = np.linalg.eigvalsh(H.full())
    dens = spectral_density(H, n_runs=20, n_steps=100, seed=0)
    nodes = dens.nodes
    assert np.allclose(nodes.groupby("run")["weight"].sum(), 1)
    assert abs(nodes["eigenvalue"].max() - exact[-1]) < 1e-8 and abs(nodes["eigenvalue"].min() - exact[0]) < 1e-8
    negative = np.mean(exact < -ZERO * np.abs(exact).max())
    assert 0.1 < negative < 0.9 and abs(dens.fraction_negative - negative) < 0.08
    area = np.trapezoid(dens.frame["density"], dens.frame["eigenvalue"])
    assert abs(area - 1) < 1e-3 and (dens.frame["density"] >= 0).all()
    assert 20 * 50 < dens.n_hvp <= 20 * H.size  # a run stops once its Krylov space is exhausted


def test_density_with_few_steps_estimates_the_clearly_negative_share():
    data = load_dataset("digits")
    H = LossHessian(initial_weights(64, (8,), 10, seed=0), "elu", data.X_train[:128], data.y_train[:128])
    exact = np.linalg.eigvalsh(H.full())  # 610 parameters
    negative = np.mean(exact < -ZERO * np.abs(exact).max())
    dens = spectral_density(H, n_runs=3, n_steps=40, seed=0)
    assert 0.05 < negative and abs(dens.fraction_negative - negative) < 0.05
    assert dens.n_hvp == 120


def test_density_with_few_steps_keeps_the_top_and_counts_its_products():
    H = small(True)
    top = top_eigenvalues(H, 1, tol=0).values[0]
    dens = spectral_density(H, n_runs=2, n_steps=30, seed=1)
    assert dens.n_hvp == 60 and abs(dens.nodes["eigenvalue"].max() - top) < 1e-6 * top
    assert list(dens.frame.columns) == ["eigenvalue", "density"]


def test_issue_signature_takes_the_numpy_mlp():
    mlp = MLP(5, [12, 10], 3, "tanh", rng=np.random.default_rng(3))
    X, y = batch()
    eig = hessian_top_eigenvalues(mlp, X, y, k=5)
    same = hessian_top_eigenvalues(mlp.get_weights(), X, y, k=5, activation="tanh")
    assert np.allclose(eig.values, same.values)
    all_values = hessian_eigenvalues(mlp, X, y)
    assert all_values.shape == (mlp.n_parameters(),) and np.all(np.diff(all_values) >= 0)
    assert np.allclose(eig.values, all_values[::-1][:5], rtol=1e-6)
    assert full_hessian(mlp, X, y).shape == (mlp.n_parameters(),) * 2


def test_convex_softmax_regression_has_no_negative_eigenvalue_and_training_shrinks_the_negative_ones():
    data = load_dataset("moons", n_samples=200, noise=0.1, seed=0)
    X, y = data.X_train, data.y_train
    values = hessian_eigenvalues(MLP(2, [], 2, rng=np.random.default_rng(0)), X, y)  # cross-entropy of Wx + b: convex
    assert values[-1] > 0 and values[0] > -1e-12 * values[-1]
    mlp = MLP(2, [6], 2, "tanh", rng=np.random.default_rng(0))
    before = hessian_eigenvalues(mlp, X, y)
    for _ in range(300):  # full-batch gradient descent
        mlp.loss_and_backward(X, y)
        for _, module, key in mlp.named_parameters():
            module.params[key] -= 0.5 * module.grads[key]
    after = hessian_eigenvalues(mlp, X, y)
    assert after[0] / after[-1] > 0.1 * before[0] / before[-1]  # relatively 10× less negative curvature


def test_batch_norm_uses_batch_statistics_not_the_running_buffers():
    weights = initial_weights(5, (12, 10), 3, seed=1, batch_norm=True)
    X, y = batch()
    moved = {**weights, "running_mean1": weights["running_mean1"] + 3.0, "running_var2": weights["running_var2"] * 9}
    a, b = LossHessian(weights, "elu", X, y), LossHessian(moved, "elu", X, y)
    v = np.random.default_rng(0).standard_normal(a.size)
    assert np.array_equal(a.hvp(v), b.hvp(v))
    mlp = MLP.from_weights(weights, "elu").train()
    assert abs(a.loss() - mlp.loss_and_backward(X, y)[0]) < 1e-12
    assert a.size == MLP.from_weights(weights, "elu").n_parameters()


def test_limits_are_checked_before_anything_is_built(monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the limits were checked")

    monkeypatch.setattr(hessian, "TorchMLP", no_model)
    huge = {
        "W1": np.broadcast_to(0.0, (1000, 784)),
        "b1": np.zeros(1000),
        "W2": np.zeros((10, 1000)),
        "b2": np.zeros(10),
    }
    X, y = np.zeros((10, 784)), np.zeros(10, dtype=int)
    with pytest.raises(HessianLimitError, match=f"at most {MAX_PARAMETERS:,} parameters"):
        LossHessian(huge, "elu", X, y)
    weights = initial_weights(5, (4,), 3, seed=0)
    with pytest.raises(HessianLimitError, match=f"at most {MAX_SAMPLES:,} samples"):
        LossHessian(weights, "elu", np.broadcast_to(0.0, (MAX_SAMPLES + 1, 5)), np.zeros(MAX_SAMPLES + 1, int))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w, X, y: (w, X[:, :4], y), r"X must be \(N, 5\)"),
        (lambda w, X, y: (w, X, y + 3), "labels y must be whole numbers from 0 to 2"),
        (lambda w, X, y: (w, X, y.astype(float)), "labels y must be whole numbers"),
        (lambda w, X, y: ({**w, "W2": w["W2"] * np.nan}, X, y), "not finite"),
        (lambda w, X, y: ({k: v for k, v in w.items() if k != "W2"}, X, y), r"missing \['W2'\]"),
        (lambda w, X, y: ({**w, "W2": w["W2"][:, :3]}, X, y), "W2 has 3 columns, but layer 1 has 4 units"),
        (lambda w, X, y: ({**w, "b2": w["b2"][:3]}, X, y), r"b2 has shape \(3,\), expected \(4,\)"),
        (lambda w, X, y: ({**w, "b9": w["b2"]}, X, y), r"unexpected \['b9'\]"),
        (lambda w, X, y: (w, X[:0], y[:0]), "at least 1 sample"),
        (lambda w, X, y: (w, X, y.reshape(-1, 1)), r"y \(N,\)"),
    ],
)
def test_bad_inputs_give_one_line_errors(change, message):
    weights = initial_weights(5, (4, 4), 3, seed=0)
    X, y = batch()
    weights, X, y = change(weights, X, y)
    with pytest.raises(HessianError, match=message) as info:
        LossHessian(weights, "elu", X, y)
    assert "\n" not in str(info.value)


def test_other_bad_requests_give_one_line_errors():
    bn = initial_weights(5, (4,), 3, seed=0, batch_norm=True)
    X, y = batch()
    with pytest.raises(HessianError, match="at least 2 samples with batch norm"):
        LossHessian(bn, "elu", X[:1], y[:1])
    H = small(False)
    with pytest.raises(HessianError, match="k must be from 1 to 234"):
        top_eigenvalues(H, k=H.size)
    with pytest.raises(HessianError, match="at least 2 probes"):
        hutchinson_trace(H, n_probes=1)
    with pytest.raises(HessianError, match="Lanczos steps"):
        spectral_density(H, n_steps=500)
    with pytest.raises(HessianError, match="name the activation"):
        hessian_top_eigenvalues(initial_weights(5, (4,), 3, seed=0), X, y)


def test_one_thread_restores_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1  # products run on one thread
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@BN
def test_filter_normalized_direction_has_the_weights_row_norms(batch_norm):
    weights = initial_weights(5, (12, 10), 3, seed=1, batch_norm=batch_norm)
    d = filter_normalized_direction(weights, seed=4)
    assert not any(k.startswith("running") for k in d)
    for name, w in weights.items():
        if name.startswith("W"):
            assert np.allclose(np.linalg.norm(d[name], axis=1), np.linalg.norm(w, axis=1))
            assert not np.allclose(d[name], w)
        elif not name.startswith("running"):
            assert not d[name].any()  # biases, γ and β stay put
    assert all(np.array_equal(d[k], filter_normalized_direction(weights, seed=4)[k]) for k in d)


@BN
def test_loss_along_an_eigenvector_follows_its_parabola(batch_norm):
    H = small(batch_norm)
    eig = top_eigenvalues(H, 2, tol=0)
    random = H.flatten(filter_normalized_direction(H.unflatten(H.theta.numpy()), seed=0))
    frame = loss_along(H, {"top": eig.vectors[:, 0], "random": random}, np.linspace(-0.1, 0.1, 5))
    assert list(frame.columns) == ["direction", "alpha", "loss", "taylor"] and len(frame) == 10
    at0 = frame[frame.alpha == 0]
    assert np.allclose(at0["loss"], H.loss()) and np.allclose(at0["taylor"], H.loss())
    top = frame[frame.direction == "top"]
    taylor, loss = top["taylor"].to_numpy(), top["loss"].to_numpy()  # at α = −0.1, −0.05, 0, 0.05, 0.1
    assert abs((taylor[3] - 2 * taylor[2] + taylor[1]) / 0.05**2 - eig.values[0]) < 1e-8  # its curvature is λ
    assert np.abs(loss - taylor).max() < 0.1 * np.abs(loss - H.loss()).max()  # and the loss follows it


def test_loss_plane_is_a_full_grid_centred_on_the_weights():
    H = small(False)
    eig = top_eigenvalues(H, 2, tol=0)
    alphas = np.linspace(-1, 1, 5)
    plane = loss_plane(H, eig.vectors[:, 0], eig.vectors[:, 1], alphas)
    assert len(plane) == 25 and list(plane.columns) == ["alpha", "beta", "loss"]
    centre = plane[(plane.alpha == 0) & (plane.beta == 0)]["loss"].iloc[0]
    assert centre == pytest.approx(H.loss(), abs=1e-14)
    v = 0.5 * eig.vectors[:, 0] - 1.0 * eig.vectors[:, 1]
    assert plane[(plane.alpha == 0.5) & (plane.beta == -1)]["loss"].iloc[0] == pytest.approx(H.loss(v), abs=1e-14)


def test_spectrum_over_training_measures_every_epoch_and_reports_progress():
    data = load_dataset("moons", n_samples=120, noise=0.1, seed=0)
    config = TrainConfig(hidden_dims=(6,), activation="tanh", lr=0.5, batch_size=16, epochs=2, dtype="float64")
    calls = []
    frame = spectrum_over_training(data, config, n_samples=64, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert list(frame.columns) == ["epoch", "quantity", "value"] and len(frame) == 12
    wide = frame.pivot(index="epoch", columns="quantity", values="value")
    assert (wide["top eigenvalue"] > 0).all() and (wide["most negative eigenvalue"] <= wide["top eigenvalue"]).all()
    assert wide["fraction negative"].between(0, 1).all()
    assert wide.loc[2, "loss"] < wide.loc[0, "loss"]  # it trained
    idx = np.sort(np.random.default_rng(0).choice(len(data.y_train), 64, replace=False))
    init = initial_weights(2, (6,), 2, seed=config.seed, dtype="float64")
    H = LossHessian(init, "tanh", data.X_train[idx], data.y_train[idx])
    assert wide.loc[0, "top eigenvalue"] == pytest.approx(top_eigenvalues(H, 1, tol=0).values[0], rel=1e-4)


def test_finite_weights_whose_loss_overflows_give_a_message_not_an_arpack_failure():
    X, y = batch()
    weights = {k: v * 1e160 for k, v in initial_weights(5, (12, 10), 3, seed=1).items()}  # finite, but z overflows
    H = LossHessian(weights, "elu", X, y)
    with pytest.raises(HessianError, match="H v is NaN or ∞ at these weights"):
        H.hvp(np.ones(H.size))
    with pytest.raises(HessianError, match="the run diverged"):
        top_eigenvalues(H, k=1)

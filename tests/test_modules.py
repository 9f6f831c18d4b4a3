"""Each hand-written backward against central finite differences in float64.

Written like the course's own unit tests, so student code against the same interface runs here.
"""

import numpy as np
import pytest

from core.nn.activations import ACTIVATIONS, make_activation
from core.nn.gradcheck import (
    check_mlp_gradients,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    numerical_jacobian,
    rel_error,
)
from core.nn.losses import log_softmax, softmax_cross_entropy
from core.numpy_mlp import MLP, CrossEntropyModule, ELUModule, LinearModule, SoftMaxModule

TOL = 1e-6


def test_linear_backward_matches_finite_differences():
    np.random.seed(42)
    for _ in range(10):
        N, D, C = np.random.randint(1, 20), np.random.randint(1, 60), np.random.randint(1, 10)
        x, dout = np.random.randn(N, D), np.random.randn(N, C)
        layer = LinearModule(D, C)
        layer.params["bias"] = np.random.randn(C)  # a zero bias would hide a wrong db
        layer.forward(x)
        dx = layer.backward(dout)
        dW, db = layer.grads["weight"], layer.grads["bias"]
        assert dx.shape == x.shape and dW.shape == (C, D) and db.shape == (C,)
        assert rel_error(dx, eval_numerical_gradient_array(layer.forward, x, dout)) < TOL
        assert (
            rel_error(dW, eval_numerical_gradient_array(lambda _: layer.forward(x), layer.params["weight"], dout)) < TOL
        )
        assert (
            rel_error(db, eval_numerical_gradient_array(lambda _: layer.forward(x), layer.params["bias"], dout)) < TOL
        )


def test_linear_init_is_kaiming_and_dtype_is_kept():
    rng = np.random.default_rng(0)
    hidden = LinearModule(2000, 300, rng=rng)
    first = LinearModule(2000, 300, input_layer=True, rng=rng)
    assert hidden.params["weight"].std() == pytest.approx(np.sqrt(2 / 2000), rel=0.02)
    assert first.params["weight"].std() == pytest.approx(np.sqrt(1 / 2000), rel=0.02)
    assert not hidden.params["bias"].any()
    f32 = LinearModule(4, 3, dtype=np.float32)
    out = f32.forward(np.ones((2, 4), np.float32))
    assert out.dtype == np.float32 and f32.backward(np.ones((2, 3), np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 9)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink of relu-like functions
    dout = rng.standard_normal(x.shape)
    module = make_activation(name)
    module.forward(x)
    dx = module.backward(dout)
    assert rel_error(dx, eval_numerical_gradient_array(module.forward, x, dout)) < TOL
    x32 = x.astype(np.float32)
    module.forward(x32)
    assert module.forward(x32).dtype == np.float32 and module.backward(dout.astype(np.float32)).dtype == np.float32


def test_elu_alpha_changes_negative_side():
    x = np.array([[-1.0, 2.0]])
    assert ELUModule(2.0).forward(x)[0, 0] == pytest.approx(2 * (np.exp(-1) - 1))
    assert ELUModule(2.0).forward(x)[0, 1] == 2.0


def test_softmax_backward_and_stability():
    np.random.seed(3)
    x, dout = np.random.randn(7, 5), np.random.randn(7, 5)
    layer = SoftMaxModule()
    layer.forward(x)
    dx = layer.backward(dout)
    assert rel_error(dx, eval_numerical_gradient_array(layer.forward, x, dout)) < TOL
    big = SoftMaxModule().forward(np.array([[1000.0, 1001.0, -1000.0]]))
    assert np.all(np.isfinite(big)) and big.sum() == pytest.approx(1.0)
    assert big[0, 1] == pytest.approx(1 / (1 + np.exp(-1)))


def test_cross_entropy_forward_backward():
    np.random.seed(4)
    x = np.random.rand(8, 6) + 0.05
    x /= x.sum(axis=1, keepdims=True)
    y = np.random.randint(6, size=8)
    loss = CrossEntropyModule().forward(x, y)
    assert loss == pytest.approx(-np.mean(np.log(x[np.arange(8), y])))
    grads = CrossEntropyModule().backward(x, y)
    num = eval_numerical_gradient(lambda xx: CrossEntropyModule().forward(xx, y), x)
    assert rel_error(grads, num) < TOL


def test_fused_softmax_cross_entropy_matches_modules_and_survives_huge_logits():
    rng = np.random.default_rng(5)
    z, y = rng.standard_normal((10, 4)), rng.integers(0, 4, 10)
    loss, dz, probs = softmax_cross_entropy(z, y)
    s = SoftMaxModule()
    p = s.forward(z)
    ce = CrossEntropyModule()
    assert loss == pytest.approx(ce.forward(p, y), rel=1e-12)
    assert rel_error(dz, s.backward(ce.backward(p, y))) < 1e-10
    assert rel_error(dz, eval_numerical_gradient(lambda zz: softmax_cross_entropy(zz, y)[0], z)) < TOL
    loss_big, dz_big, _ = softmax_cross_entropy(np.array([[1e4, -1e4]]), np.array([1]))
    assert loss_big == pytest.approx(2e4) and np.all(np.isfinite(dz_big))
    assert np.allclose(log_softmax(z), np.log(probs))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_whole_mlp_gradients_match_finite_differences(name):
    rng = np.random.default_rng(6)
    mlp = MLP(5, [8, 7], 4, activation=name, rng=rng)
    for lin in mlp.layers:
        lin.params["bias"] = 0.1 * rng.standard_normal(lin.params["bias"].shape)
    x, y = rng.standard_normal((9, 5)), rng.integers(0, 4, 9)
    errors = check_mlp_gradients(mlp, x, y)
    assert [r["param"] for r in errors] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert max(r["rel_error"] for r in errors) < TOL


def test_mlp_assignment_interface_and_caches():
    np.random.seed(42)
    mlp = MLP(10, [6, 5], 3)
    x, y = np.random.randn(4, 10), np.array([0, 2, 1, 2])
    out = mlp.forward(x)
    assert out.shape == (4, 3) and np.allclose(out.sum(axis=1), 1)
    ce = CrossEntropyModule()
    mlp.backward(ce.backward(out, y))
    via_modules = {k: g.copy() for k, g in mlp.get_grads().items()}
    mlp.loss_and_backward(x, y)
    assert all(rel_error(via_modules[k], g) < 1e-9 for k, g in mlp.get_grads().items())
    assert [z.shape for z in mlp.zs] == [(4, 6), (4, 5), (4, 3)]
    assert [d.shape for d in mlp.deltas] == [(4, 6), (4, 5), (4, 3)]
    assert len(mlp.activations) == 4 and mlp.activations[0] is not None
    # δ_l relates to the weight gradient: ∂L/∂W_l = δ_lᵀ a_{l-1}
    assert np.allclose(mlp.layers[1].grads["weight"], mlp.deltas[1].T @ mlp.activations[1])
    mlp.clear_cache()
    assert mlp.zs == [] and mlp.layers[0].x is None


def test_mlp_without_hidden_layers_is_softmax_regression():
    mlp = MLP(3, [], 2, rng=np.random.default_rng(0))
    assert mlp.widths == [3, 2] and mlp.forward(np.zeros((1, 3))).shape == (1, 2)


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown activation"):
        MLP(2, [3], 2, activation="swish")


def test_numerical_jacobian_of_linear_map_is_the_matrix():
    A = np.arange(6.0).reshape(2, 3)
    assert np.allclose(numerical_jacobian(lambda v: A @ v, np.ones(3)), A)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elu_derivative_is_exact_far_on_the_negative_side(dtype):
    x = np.linspace(-40, -10, 31).astype(dtype)[None, :]
    elu = ELUModule()
    elu.forward(x)
    dx = elu.backward(np.ones_like(x))
    exact = np.exp(x.astype(np.float64))  # elu'(x) = αeˣ with α = 1
    assert dx.dtype == dtype and rel_error(dx, exact) < (1e-12 if dtype == np.float64 else 1e-6)


def test_module_backward_after_the_fused_path_uses_the_new_batch():
    rng = np.random.default_rng(9)
    mlp = MLP(4, [5], 3, rng=rng)
    x1, x2, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    mlp.forward(x1)
    _, probs = mlp.loss_and_backward(x2, y)
    fused = {k: g.copy() for k, g in mlp.get_grads().items()}
    mlp.backward(CrossEntropyModule().backward(probs, y))
    assert all(rel_error(fused[k], g) < 1e-9 for k, g in mlp.get_grads().items())


def test_gradient_check_refuses_float32():
    mlp = MLP(3, [4], 2, dtype=np.float32, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="float64"):
        check_mlp_gradients(mlp, np.ones((2, 3)), np.array([0, 1]))

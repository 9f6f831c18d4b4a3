"""The hand-derived NumPy MLP against the PyTorch twin (autograd) from identical weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.nn.activations import ACTIVATIONS  # noqa: E402
from core.nn.gradcheck import norm_rel_error, rel_error  # noqa: E402
from core.nn.torch_mlp import TorchMLP  # noqa: E402
from core.numpy_mlp import MLP  # noqa: E402
from core.training.backends import initial_weights, make_backend  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402

TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


def twins(activation, dtype, widths=(6, [16, 12], 5), seed=0):
    rng = np.random.default_rng(seed)
    D, hidden, C = widths
    mlp = MLP(D, hidden, C, activation=activation, dtype=np.dtype(dtype), rng=rng)
    for lin in mlp.layers:  # non-zero biases so their gradients are tested too
        lin.params["bias"] = (0.1 * rng.standard_normal(lin.params["bias"].shape)).astype(dtype)
    net = TorchMLP(D, hidden, C, activation=activation, dtype=dtype, device="cpu")
    net.load_numpy_weights(mlp.get_weights())
    x = rng.standard_normal((11, D)).astype(dtype)
    y = rng.integers(0, C, 11)
    return mlp, net, x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_logits_loss_and_gradients_agree(activation, dtype):
    mlp, net, x, y = twins(activation, dtype)
    tol = TOLERANCE[dtype]
    loss_np, _ = mlp.loss_and_backward(x, y)
    logits_np = mlp.zs[-1]
    logits_t = net(torch.from_numpy(x))
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y))
    loss_t.backward()
    assert logits_np.dtype == np.dtype(dtype)
    assert rel_error(logits_np, logits_t.detach().numpy()) < tol
    assert abs(loss_np - loss_t.item()) / abs(loss_t.item()) < tol
    torch_grads = net.numpy_grads()
    assert set(torch_grads) == set(mlp.get_grads()) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for name, grad in mlp.get_grads().items():
        assert grad.dtype == np.dtype(dtype)
        assert norm_rel_error(grad, torch_grads[name]) < tol, name


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_deltas_agree_with_autograd(activation):
    mlp, net, x, y = twins(activation, "float64")
    mlp.loss_and_backward(x, y)
    zs, _, _ = net.forward_all(torch.from_numpy(x))
    torch.nn.functional.cross_entropy(zs[-1], torch.from_numpy(y)).backward()
    for delta, z in zip(mlp.deltas, zs):
        assert norm_rel_error(delta, z.grad.numpy()) < 1e-10


def test_weights_copy_both_ways():
    mlp, net, _, _ = twins("elu", "float64")
    back = MLP(6, [16, 12], 5)
    back.set_weights(net.numpy_weights())
    original, copied = mlp.get_weights(), back.get_weights()
    assert list(original) == list(copied)
    assert all(np.array_equal(original[k], copied[k]) for k in original)
    with pytest.raises(ValueError, match="missing"):
        net.load_numpy_weights({k: v for k, v in original.items() if k != "W3"})
    with pytest.raises(ValueError, match="shape"):
        back.set_weights({**original, "W2": original["W2"].T})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_fifty_steps_give_the_same_loss_curve(optimizer):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 10)), rng.integers(0, 3, 64)
    lr = 0.01 if optimizer == "adam" else 0.1
    config = TrainConfig(hidden_dims=(32, 16), optimizer=optimizer, lr=lr, weight_decay=1e-3, dtype="float64")
    w0 = initial_weights(10, config.hidden_dims, 3, seed=7)
    curves = {}
    for name in ("numpy", "torch"):
        backend = make_backend(name, 10, 3, config, w0)
        curves[name] = [
            backend.train_step(X[i % 4 * 16 : i % 4 * 16 + 16], y[i % 4 * 16 : i % 4 * 16 + 16])[0] for i in range(50)
        ]
    a, b = np.array(curves["numpy"]), np.array(curves["torch"])
    assert a[-1] < a[0]  # it learns
    assert np.max(np.abs(a - b) / np.abs(b)) < 1e-8


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_saturated_units_agree_entry_by_entry(dtype):
    """Very negative pre-activations (ELU's tail, sigmoid's floor) still match autograd per entry.

    (tanh is left out: at z = −20 both sides compute 1 − tanh²z ≈ 1e-17 from a rounded tanh.)
    """
    for activation in ("elu", "sigmoid"):
        mlp, net, x, y = twins(activation, dtype)
        for lin in mlp.layers[:-1]:
            lin.params["bias"] = np.full_like(lin.params["bias"], -20.0)
        net.load_numpy_weights(mlp.get_weights())
        mlp.loss_and_backward(x, y)
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        torch_grads = net.numpy_grads()
        for name in ("W1", "W2", "W3"):
            dW, tW = mlp.get_grads()[name], torch_grads[name]
            assert np.abs(dW - tW).max() <= TOLERANCE[dtype] * np.abs(tW).max(), activation

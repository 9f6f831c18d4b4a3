"""Module and network Jacobians: the formulas against autograd (1e-8) and finite differences, in float64."""

import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

from core.analysis.jacobians.modules import (  # noqa: E402
    MAX_ENTRIES,
    JacobianError,
    batchnorm_jacobians,
    feature_major,
    layer_jacobians,
    module_jacobian,
    vjp_check,
)
from core.analysis.jacobians.network import network_jacobian, saliency_frame, spectrum_by_architecture  # noqa: E402
from core.analysis.text.jacobian_equations import module_latex  # noqa: E402
from core.analysis.text.notation import tex_number  # noqa: E402
from core.nn.activations import ACTIVATIONS, ELUModule  # noqa: E402
from core.nn.batchnorm import BatchNormModule  # noqa: E402
from core.nn.layers import LinearModule  # noqa: E402
from core.nn.losses import SoftMaxModule  # noqa: E402
from core.nn.mlp import MLP  # noqa: E402

AUTOGRAD_TOL = 1e-8  # the bar: formula vs autograd in float64
FD_TOL = 1e-6  # central differences, h = 1e-5: truncation ~1e-10, round-off ~1e-11, times the curvature


def net(activation, batch_norm, dtype=np.float64, seed=0):
    """A 5 → 7 → 6 → 4 MLP with non-trivial biases, γ, β and running statistics (so no formula hides behind 0 or 1)."""
    rng = np.random.default_rng(seed)
    mlp = MLP(5, [7, 6], 4, activation, dtype=dtype, rng=rng, batch_norm=batch_norm)
    w = mlp.get_weights()
    for name in w:
        if name.startswith(("b", "gamma", "running_mean")):
            w[name] = w[name] + 0.3 * rng.standard_normal(w[name].shape)
        elif name.startswith("running_var"):
            w[name] = w[name] * rng.uniform(0.5, 2.0, w[name].shape)
    mlp.set_weights(w)
    return mlp, rng.standard_normal(5)


def overflowing(activation="relu"):
    """A network whose finite weights (a diverged run's last ones) overflow on the way: z⁽²⁾ reaches ∞."""
    mlp, x = net(activation, False)
    mlp.set_weights({k: v * 1e200 if k.startswith("W") else v for k, v in mlp.get_weights().items()})
    return mlp, x


def max_diff(a, b):
    return float(np.max(np.abs(a - b)))


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_module_jacobian_three_ways_and_its_vjp(activation, batch_norm):
    mlp, x = net(activation, batch_norm)
    kinds = []
    for layer in range(1, mlp.n_layers + 1):
        for mj in layer_jacobians(mlp, x, layer):
            kinds.append(mj.kind)
            J = mj.jacobians
            assert J["analytic"].shape == J["autograd"].shape == J["finite_difference"].shape
            assert max_diff(J["analytic"], J["autograd"]) < AUTOGRAD_TOL, (layer, mj.kind)
            assert max_diff(J["analytic"], J["finite_difference"]) < FD_TOL, (layer, mj.kind)
            assert mj.vjp.max_abs_diff < 1e-12 and np.abs(mj.vjp.from_backward).max() > 1e-3, (layer, mj.kind)
            table = mj.differences()
            assert list(table["pair"]) == [
                "formula vs autograd",
                "formula vs finite differences",
                "autograd vs finite differences",
            ]
    hidden = ["linear", "batch_norm", activation] if batch_norm else ["linear", activation]
    assert kinds == hidden * 2 + ["linear", "softmax"]


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_network_jacobian_chain_rule_against_autograd_of_the_torch_twin(activation, batch_norm):
    mlp, x = net(activation, batch_norm)
    for output in ("probs", "logits"):
        chain = network_jacobian(mlp, x, output)
        torch_J = network_jacobian(mlp, x, output, "autograd").jacobian
        numeric = network_jacobian(mlp, x, output, "finite_difference").jacobian
        assert chain.jacobian.shape == (4, 5)
        assert max_diff(chain.jacobian, torch_J) < AUTOGRAD_TOL
        assert max_diff(chain.jacobian, numeric) < FD_TOL
        product = np.linalg.multi_dot([J for _, _, J in chain.factors[::-1]])  # J_last · … · J_first
        assert max_diff(product, chain.jacobian) < 1e-14
        assert np.allclose(chain.singular_values, np.linalg.svd(torch_J, compute_uv=False), atol=1e-10)
    probs = network_jacobian(mlp, x, "probs")
    assert np.abs(probs.jacobian.sum(axis=0)).max() < 1e-12  # probabilities sum to 1: 1ᵀ J = 0
    assert probs.singular_values[-1] < 1e-12  # … so one singular value is 0


def test_batch_norm_in_training_mode_couples_the_samples_never_the_features():
    mlp, _ = net("elu", True)
    X = np.random.default_rng(3).standard_normal((4, 5))
    bn = batchnorm_jacobians(mlp, X, layer=2)
    J = bn.jacobians["analytic"]
    N, D = 4, 6
    assert J.shape == (N * D, N * D)
    assert max_diff(J, bn.jacobians["autograd"]) < AUTOGRAD_TOL
    assert max_diff(J, bn.jacobians["finite_difference"]) < FD_TOL
    assert bn.vjp.max_abs_diff < 1e-12
    J4 = J.reshape(N, D, N, D)  # [n, j, m, i] = ∂y[n, j]/∂X[m, i]
    assert np.abs(J4[:, 0, :, 1]).max() == 0  # feature 1 never moves feature 0
    assert np.abs(J4[0, :, 1, :]).max() > 1e-2  # sample 1 moves sample 0 (through μ and σ²)
    assert np.abs(J4.sum(axis=2)).max() < 1e-12  # shifting every sample equally changes nothing: Σ_m ∂y/∂x_m = 0
    blocks = feature_major(J, N)  # D blocks of N × N on the diagonal
    assert np.array_equal(blocks[:N, :N], J4[:, 0, :, 0]) and np.abs(blocks[:N, N:]).max() == 0
    eval_mode = module_jacobian(mlp.norms[1].eval(), X[0, :1].repeat(6))  # one sample: diagonal
    assert np.array_equal(eval_mode, np.diag(np.diag(eval_mode)))


def test_each_formula_on_a_module_of_its_own():
    rng = np.random.default_rng(1)
    lin = LinearModule(3, 2, rng=rng)
    assert np.array_equal(module_jacobian(lin, rng.standard_normal(3)), lin.params["weight"])
    z = np.array([1.0, -2.0, 0.5])
    s = np.exp(z) / np.exp(z).sum()
    assert np.allclose(module_jacobian(SoftMaxModule(), z), np.diag(s) - np.outer(s, s), atol=1e-15)
    elu = module_jacobian(ELUModule(), np.array([-1.0, 2.0]))
    assert np.allclose(elu, np.diag([np.exp(-1.0), 1.0]), atol=1e-15)
    bn = BatchNormModule(2).eval()
    bn.params["weight"][:] = [2.0, -1.0]
    bn.running_var[:] = [4.0, 0.25]
    assert np.allclose(module_jacobian(bn, np.zeros(2)), np.diag([2 / np.sqrt(4 + 1e-5), -1 / np.sqrt(0.25 + 1e-5)]))


def test_float32_networks_are_differentiated_in_float64_and_left_untouched():
    mlp, x = net("tanh", True, dtype=np.float32)
    mlp.train()
    before = {k: v.copy() for k, v in mlp.get_weights().items()}
    chain = network_jacobian(mlp, x, "logits")
    assert chain.jacobian.dtype == np.float64
    assert max_diff(chain.jacobian, network_jacobian(mlp, x, "logits", "autograd").jacobian) < AUTOGRAD_TOL
    bn = mlp.norms[0]
    module_jacobian(bn, np.random.default_rng(0).standard_normal((3, 7)), "finite_difference")
    assert all(np.array_equal(before[k], v) for k, v in mlp.get_weights().items())  # running stats too
    assert mlp.training and bn.x_hat is None  # mode and caches as they were
    lin = mlp.layers[0]  # a float32 module on its own: its parameters are cast too
    J = {method: module_jacobian(lin, x, method) for method in ("analytic", "autograd")}
    assert J["analytic"].dtype == J["autograd"].dtype == np.float64 and np.array_equal(J["analytic"], J["autograd"])


def test_vjp_accepts_a_given_dout():
    lin = LinearModule(3, 2, rng=np.random.default_rng(0))
    check = vjp_check(lin, np.ones(3), dout=[1.0, -2.0])
    assert np.allclose(check.from_jacobian, np.array([1.0, -2.0]) @ lin.params["weight"])
    with pytest.raises(JacobianError, match="dout needs 2 entries"):
        vjp_check(lin, np.ones(3), dout=[1.0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: module_jacobian(LinearModule(3, 2), np.ones((2, 3))), "one sample x of shape"),
        (lambda: module_jacobian(LinearModule(3, 2), np.ones(4)), "takes 3 features, got 4"),
        (lambda: module_jacobian(ELUModule(), np.array([1.0, np.nan])), "NaN or infinite"),
        (lambda: module_jacobian(ELUModule(), np.ones(3), "symbolic"), "unknown method"),
        (lambda: module_jacobian(BatchNormModule(3), np.ones(3)), "needs a batch X"),
        (lambda: module_jacobian(BatchNormModule(3), np.ones((1, 3))), "needs a batch X"),
        (lambda: module_jacobian(object(), np.ones(3)), "no Jacobian for a object"),
        (lambda: module_jacobian(ELUModule(), np.ones(MAX_ENTRIES)), "more than"),
        (lambda: network_jacobian(net("elu", False)[0], np.ones(6)), "one sample of 5 features"),
        (lambda: network_jacobian(net("elu", False)[0], np.ones(5), "scores"), "unknown output"),
        (lambda: layer_jacobians(net("elu", False)[0], np.ones(5), 4), "layer must be 1 … 3"),
        (lambda: batchnorm_jacobians(net("elu", False)[0], np.ones((4, 5)), 1), "has no batch norm"),
        (lambda: layer_jacobians(*overflowing(), 2), "the Jacobian overflows .* this linear module's weights"),
        (lambda: layer_jacobians(*overflowing(), 3), "the input has NaN or infinite entries"),
        (lambda: network_jacobian(*overflowing(), "logits"), "the input has NaN or infinite entries"),
        (lambda: network_jacobian(*overflowing(), "logits", "autograd"), "the Jacobian overflows"),
        (lambda: network_jacobian(*overflowing(), "probs", "finite_difference"), "the Jacobian overflows"),
    ],
)
def test_bad_input_gets_one_line(call, message):
    with pytest.raises(JacobianError, match=message) as info, warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning on the way (overflow is expected, and reported)
        call()
    assert "\n" not in str(info.value)


def test_deep_sigmoid_spectrum_collapses_and_elu_does_not():
    x = np.random.default_rng(0).standard_normal(16)
    spectra = spectrum_by_architecture(x, 10, ("sigmoid", "elu"), (1, 8), width=32, seed=0)
    top = spectra[spectra["k"] == 0].set_index(["activation", "depth"])["singular_value"]
    assert top["sigmoid", 8] < 1e-3 * top["elu", 8]
    assert top["sigmoid", 1] > 1e-2 * top["elu", 1]
    assert len(spectra) == 2 * 2 * 10


def test_saliency_keeps_the_strongest_channel_of_a_colour_pixel():
    J = np.zeros((2, 3 * 2 * 2))
    J[1, [0, 4, 8]] = [0.1, -0.5, 0.2]  # class 1, pixel (0, 0): channels 0, 1, 2
    frame = saliency_frame(J, (3, 2, 2), ["cat", "dog"])
    assert len(frame) == 2 * 2 * 2
    pixel = frame[(frame["class"] == "dog") & (frame["row"] == 0) & (frame["col"] == 0)]
    assert pixel["value"].item() == -0.5
    grey = saliency_frame(np.arange(8.0).reshape(2, 4), (2, 2), ["a", "b"])
    assert grey.loc[(grey["class"] == "b") & (grey["row"] == 1) & (grey["col"] == 0), "value"].item() == 6.0


def test_formulas_carry_the_numbers_of_the_sample():
    mlp, x = net("tanh", True)
    mods = layer_jacobians(mlp, x, 1) + layer_jacobians(mlp, x, 3)[1:]  # layer 1's modules, softmax
    text = {mj.kind: " ".join(module_latex(mj, "tanh", batch_norm=True)) for mj in mods}
    J = {mj.kind: mj.jacobians["analytic"] for mj in mods}
    assert f"W^{{(1)}}_{{0,0}} = {tex_number(mods[0].module.params['weight'][0, 0])}" in text["linear"]
    assert r"\tilde z" in text["tanh"] and f"= {tex_number(J['tanh'][0, 0])}" in text["tanh"]
    assert "running" in text["batch_norm"] and tex_number(J["batch_norm"][0, 0]) in text["batch_norm"]
    assert (
        r"\operatorname{diag}(p) - p\,p^\top" in text["softmax"] and tex_number(J["softmax"][0, 1]) in text["softmax"]
    )

"""The common dict form of the weights (core.nn.weights): one check and one flat vector for every reader."""

import numpy as np
import pytest

from core.nn.mlp import MLP
from core.nn.torch_mlp import TorchMLP
from core.nn.weights import WeightsError, check, expected_names, flatten, parameter_names, unflatten, widths
from core.training.backends import initial_weights


@pytest.mark.parametrize("batch_norm", [False, True])
def test_both_models_write_the_names_and_widths_the_module_expects(batch_norm):
    weights = initial_weights(5, (4, 3), 2, seed=0, batch_norm=batch_norm)
    assert list(weights) == expected_names(3, batch_norm)
    assert widths(check(weights)) == [5, 4, 3, 2]
    torch_weights = TorchMLP.from_weights(weights, "elu").numpy_weights()
    assert list(torch_weights) == list(weights)
    assert all(np.array_equal(torch_weights[k], weights[k]) for k in weights)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w: {k: v for k, v in w.items() if k != "b2"}, r"missing \['b2'\], unexpected none"),
        (lambda w: {**w, "W9": w["W1"]}, "unexpected"),
        (lambda w: {**w, "W2": w["W2"][:, :3]}, "W2 has 3 columns, but layer 1 has 4 units"),
        (lambda w: {**w, "b1": w["b1"][:2]}, r"b1 has shape \(2,\), expected \(4,\)"),
        (lambda w: {**w, "W1": w["W1"][0]}, "expected a matrix"),
        (lambda w: {}, "W1 … WL"),
    ],
)
def test_weights_that_are_not_one_mlp_are_refused_in_one_line(change, message):
    with pytest.raises(WeightsError, match=message):
        check(change(initial_weights(5, (4, 3), 2, seed=0)))
    with pytest.raises(ValueError, match=message):  # what every reader raises through
        MLP.from_weights(change(initial_weights(5, (4, 3), 2, seed=0)), "elu")


def test_flatten_and_unflatten_are_inverse_and_leave_the_buffers_out():
    weights = initial_weights(5, (4,), 2, seed=1, batch_norm=True)
    names = parameter_names(weights)
    assert "running_mean1" not in names and names[:3] == ["W1", "gamma1", "beta1"]
    v = flatten(weights, names)
    assert v.shape == (5 * 4 + 4 + 4 + 4 * 2 + 2,)
    back = unflatten(v, names, [np.shape(weights[k]) for k in names])
    assert all(np.array_equal(back[k], weights[k]) for k in names)

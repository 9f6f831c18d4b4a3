"""The common dict form of an MLP's weights, in one place: its names, its widths, its check, flat vectors.

Both backends, saved runs and the analyses read and write one form (layers count from 1, L = hidden
layers + 1, PyTorch's (out, in) layout)::

    W1 (H_1, D), b1 (H_1,), …, WL (C, H_{L−1}), bL (C,)

With batch norm a hidden layer l has no bias: γ_l ("gamma{l}") and β_l ("beta{l}") take its place, with
the buffers "running_mean{l}" and "running_var{l}" (not trained: never flattened, never counted).
"""

import math
import re

import numpy as np

NAME = re.compile(r"(W|b|gamma|beta|running_mean|running_var)([1-9][0-9]*)")
BUFFERS = ("running_mean", "running_var")


class WeightsError(ValueError):
    """Arrays that are not the weights of one MLP; the message says what does not fit, in one line."""


def n_layers(weights):
    """L, the number of Linear layers (W1 … WL)."""
    return sum(1 for k in weights if k.startswith("W"))


def widths(weights):
    """[D, H_1, …, H_{L−1}, C], read from the shapes of W1 … WL."""
    L = n_layers(weights)
    return [np.shape(weights["W1"])[1]] + [np.shape(weights[f"W{l}"])[0] for l in range(1, L + 1)]


def has_batch_norm(weights):
    return "gamma1" in weights


def expected_names(L, batch_norm):
    """Every name of an MLP of L layers, parameters and buffers, in the order the models write them."""
    names = []
    for l in range(1, L + 1):
        names.append(f"W{l}")
        if batch_norm and l < L:
            names += [f"gamma{l}", f"beta{l}", f"running_mean{l}", f"running_var{l}"]
        else:
            names.append(f"b{l}")
    return names


def check(weights):
    """Raise WeightsError unless ``weights`` are the arrays of one MLP: every name present and no other,
    each W a matrix whose columns are the previous layer's units, each vector one number per unit."""
    L = n_layers(weights)
    if L == 0 or "W1" not in weights:
        raise WeightsError("weights need W1 … WL and b1 … bL")
    expected = expected_names(L, has_batch_norm(weights))
    if set(weights) != set(expected):
        missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
        raise WeightsError(f"names do not fit one MLP: missing {missing or 'none'}, unexpected {extra or 'none'}")
    for l in range(1, L + 1):
        if np.ndim(weights[f"W{l}"]) != 2:
            raise WeightsError(f"W{l} has shape {np.shape(weights[f'W{l}'])}, expected a matrix")
        if l > 1 and np.shape(weights[f"W{l}"])[1] != np.shape(weights[f"W{l - 1}"])[0]:
            raise WeightsError(
                f"W{l} has {np.shape(weights[f'W{l}'])[1]} columns, but layer {l - 1} has "
                f"{np.shape(weights[f'W{l - 1}'])[0]} units"
            )
    for name, v in weights.items():
        kind, l = NAME.fullmatch(name).groups()
        if kind != "W" and np.shape(v) != np.shape(weights[f"W{l}"])[:1]:
            raise WeightsError(f"{name} has shape {np.shape(v)}, expected ({np.shape(weights[f'W{l}'])[0]},)")
    return weights


def parameter_names(weights):
    """The trained arrays' names (buffers left out), in the dict's order."""
    return [k for k in weights if not k.startswith(BUFFERS)]


def n_parameters(weights):
    return sum(np.size(weights[k]) for k in parameter_names(weights))


def flatten(arrays, names):
    """The arrays ``names`` of the dict form as one flat float64 vector (P,), in that order."""
    return np.concatenate([np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k in names])


def unflatten(v, names, shapes):
    """A flat vector (P,) back to {name: array of its shape}: the inverse of ``flatten`` (views of ``v``)."""
    v, out, offset = np.asarray(v), {}, 0
    for name, shape in zip(names, shapes):
        n = math.prod(shape)
        out[name] = v[offset : offset + n].reshape(shape)
        offset += n
    return out

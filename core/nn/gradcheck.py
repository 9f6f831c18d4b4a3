"""Central finite differences, the reference every hand-written backward is checked against.

Use float64: with h = 1e-5 the truncation error is O(h²) ≈ 1e-10 and the round-off
O(ε/h) ≈ 1e-11, so analytic and numeric gradients agree to ~1e-8 relative or better.
"""

import numpy as np


def rel_error(a, b, eps=1e-12):
    """max |a − b| / max(|a| + |b|, eps), element-wise then the maximum (cs231n's measure)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)))


def norm_rel_error(a, b, eps=1e-30):
    """‖a − b‖ / (‖a‖ + ‖b‖): one number per tensor, not dominated by entries near zero.

    The element-wise ``rel_error`` of an entry of size 1e-7 is ~1e-4 from round-off alone;
    this measure is what the whole-network checks report.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), eps))


def _central_differences(f, x, h, combine):
    """Perturb each entry of ``x`` in place by ±h and return combine(f(x+h), f(x−h)) / 2h per entry."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = np.array(f(), dtype=np.float64)
        x[i] = old - h
        f_minus = np.array(f(), dtype=np.float64)
        x[i] = old
        grad[i] = combine(f_plus, f_minus) / (2 * h)
    return grad


def numerical_gradient(f, x, h=1e-5):
    """∂f/∂x for a scalar f() by central differences, perturbing ``x`` in place.

    df/dxᵢ ≈ (f(x + h eᵢ) − f(x − h eᵢ)) / 2h.  ``f`` takes no argument and reads ``x``
    (an array it closes over, e.g. a layer's weight).  Shape: like x.
    """
    return _central_differences(f, x, h, lambda plus, minus: float(plus - minus))


def numerical_gradient_array(f, x, dout, h=1e-5):
    """The vector-Jacobian product doutᵀ ∂f/∂x for an array-valued f(), by central differences.

    ∂L/∂xᵢ ≈ Σ dout ⊙ (f(x + h eᵢ) − f(x − h eᵢ)) / 2h, where L = Σ dout ⊙ f; the difference
    is taken element-wise before the sum, which keeps round-off at the scale of each output.
    """
    return _central_differences(f, x, h, lambda plus, minus: np.sum((plus - minus) * dout))


def numerical_jacobian(f, x, h=1e-5):
    """Full Jacobian J[i, j] = ∂f_i/∂x_j of f: (D,) → (M,) by central differences.  (M, D)."""
    x = np.array(x, dtype=np.float64)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))).ravel() / (2 * h))
    return np.stack(cols, axis=1)


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """The course's signature: f takes x and returns a scalar."""
    return numerical_gradient(lambda: f(x), x, h)


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """The course's signature: f takes x and returns an array; df is the upstream gradient."""
    return numerical_gradient_array(lambda: f(x), x, df, h)


def check_mlp_gradients(mlp, x, y, h=1e-5):
    """Every parameter gradient of a float64 MLP against finite differences.

    Uses the MLP in its current mode (with batch norm in training mode the loss depends on the whole
    batch, which the differences see too; the running estimates it updates do not enter the loss).
    Returns a list of dicts {layer, param (W1, gamma1, …), rel_error (``norm_rel_error``),
    max_abs_error}, one per parameter array.
    """
    from core.nn.losses import softmax_cross_entropy

    if mlp.dtype != np.float64:
        raise ValueError("finite differences need float64: build the MLP with dtype=np.float64")
    mlp.loss_and_backward(x, y)
    analytic = {name: g.copy() for name, g in mlp.get_grads().items()}

    def loss():
        return softmax_cross_entropy(mlp.logits(x), y)[0]

    rows = []
    for name, module, key in mlp.named_parameters():
        num = numerical_gradient(loss, module.params[key], h)
        grad = analytic[name]
        rows.append(
            {
                "layer": int("".join(c for c in name if c.isdigit())),
                "param": name,
                "rel_error": norm_rel_error(grad, num),
                "max_abs_error": float(np.max(np.abs(grad - num))),
            }
        )
    return rows

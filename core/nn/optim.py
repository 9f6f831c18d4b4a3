"""Optimizers with explicit state, one signature for all: ``update(w, dw, state) -> (w, state)``.

``state`` is a dict holding the hyperparameters (``lr``, ``momentum``, …) and the optimizer's
buffers, created on the first call. Conventions follow ``torch.optim`` so that the NumPy and
PyTorch backends take identical steps: weight decay is L2 added to the gradient
(g ← g + λw, as in ``SGD``/``Adam``, not ``AdamW``); the momentum buffer is v ← μv + g with no
dampening, the step w ← w − lr·v (Nesterov: w ← w − lr·(g + μv)); Adam's ε is added outside the √.
"""

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def _with_l2(w, dw, state):
    """g = dw + λw (L2 weight decay added to the gradient, as torch.optim does)."""
    decay = state.get("weight_decay", 0.0)
    return dw + decay * w if decay else dw


def sgd(w, dw, state):
    """w ← w − lr·g."""
    g = _with_l2(w, dw, state)
    w -= state["lr"] * g
    return w, state


def sgd_momentum(w, dw, state):
    """v ← μv + g;  w ← w − lr·v, or w − lr·(g + μv) when ``state['nesterov']``."""
    mu = state.setdefault("momentum", 0.9)
    g = _with_l2(w, dw, state)
    v = state.get("velocity")
    v = g.copy() if v is None else mu * v + g  # PyTorch starts the buffer at the first gradient
    state["velocity"] = v
    w -= state["lr"] * (g + mu * v if state.get("nesterov") else v)
    return w, state


def adam(w, dw, state):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − lr·m̂ / (√v̂ + ε), with bias correction."""
    beta1, beta2 = state.setdefault("beta1", 0.9), state.setdefault("beta2", 0.999)
    eps = state.setdefault("eps", 1e-8)
    g = _with_l2(w, dw, state)
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", np.zeros_like(w)) + (1 - beta1) * g
    v = beta2 * state.get("v", np.zeros_like(w)) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    w -= state["lr"] * m_hat / (np.sqrt(v_hat) + eps)
    state.update(t=t, m=m, v=v)
    return w, state


def make_optimizer(name, lr, weight_decay=0.0, momentum=0.9):
    """(update function, fresh state template) for ``name`` in ``OPTIMIZERS``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    state = {"lr": float(lr), "weight_decay": float(weight_decay)}
    if name in ("momentum", "nesterov"):
        state.update(momentum=float(momentum), nesterov=(name == "nesterov"))
        return sgd_momentum, state
    return (adam if name == "adam" else sgd), state

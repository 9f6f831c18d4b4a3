"""The chain rule for one weight, with the numbers of a ``BackwardTrace`` filled in.

∂L/∂W⁽ˡ⁾_{j,i} = Σₙ δ⁽ˡ⁾_{n,j} a⁽ˡ⁻¹⁾_{n,i}, and δ⁽ˡ⁾_{n,j} expanded one layer back: for the output layer
(p_{n,j} − 1[j = yₙ]) / N; for a hidden layer ∂L/∂z̃_{n,j} = (Σ_k W⁽ˡ⁺¹⁾_{k,j} δ⁽ˡ⁺¹⁾_{n,k}) · f'(z̃_{n,j}),
then through batch norm when the network has it. Indices from 0 (``core.analysis.text.notation``).
"""

from dataclasses import dataclass

import numpy as np

from core.analysis.text.notation import activation_tex, tex_number, tex_sup


def _n(x):
    """A number for the chain-rule equations: negatives in brackets."""
    return tex_number(x, brackets=True)


@dataclass
class ChainRule:
    """The numbers behind one weight's gradient; indices from 0.  Shape: delta, a_prev, products (N,)."""

    layer: int  # l, 1 … L
    j: int  # row of W⁽ˡ⁾: unit of layer l
    i: int  # column of W⁽ˡ⁾: input of layer l (unit of layer l − 1, or input feature)
    n: int  # the sample whose δ is expanded (index in the batch, from 0)
    is_output: bool  # l = L: δ comes from softmax + cross-entropy
    delta: np.ndarray  # δ⁽ˡ⁾_{:, j}
    a_prev: np.ndarray  # a⁽ˡ⁻¹⁾_{:, i}
    products: np.ndarray  # δ⁽ˡ⁾_{:, j} · a⁽ˡ⁻¹⁾_{:, i}, one term per sample
    dW: float  # Σₙ products, the chain rule's answer
    prob: float = np.nan  # output layer: p_{n,j}
    target: float = np.nan  # output layer: 1[j = yₙ]
    W_next: np.ndarray | None = None  # hidden layer: W⁽ˡ⁺¹⁾_{:, j}
    delta_next: np.ndarray | None = None  # hidden layer: δ⁽ˡ⁺¹⁾_{n, :}
    upstream: float = np.nan  # hidden layer: Σ_k W⁽ˡ⁺¹⁾_{k,j} δ⁽ˡ⁺¹⁾_{n,k} = ∂L/∂a⁽ˡ⁾_{n,j}
    u: float = np.nan  # hidden layer: what f received, z̃_{n,j} (z_{n,j} without batch norm)
    fprime: float = np.nan  # hidden layer: f'(u)
    du: float = np.nan  # hidden layer: ∂L/∂z̃_{n,j} = upstream · f'(u)
    bn: dict | None = None  # hidden layer with batch norm: mode, gamma, inv_std, x_hat, sum_du, sum_du_xhat


def chain_rule(trace, layer, j, i, n=0):
    """The chain rule for the weight W⁽ˡ⁾_{j,i} of ``trace`` (a ``BackwardTrace``); indices are clipped into range."""
    L = trace.n_layers
    l = int(np.clip(layer, 1, L))
    H, H_prev = trace.weights[f"W{l}"].shape
    j, i = int(np.clip(j, 0, H - 1)), int(np.clip(i, 0, H_prev - 1))
    n = int(np.clip(n, 0, len(trace.y) - 1))
    delta, a_prev = trace.deltas[l - 1][:, j], trace.activations[l - 1][:, i]  # (N,), (N,)
    with np.errstate(all="ignore"):
        products = delta * a_prev  # (N,)
        rule = ChainRule(l, j, i, n, l == L, delta, a_prev, products, float(products.sum()))
        if rule.is_output:
            rule.prob, rule.target = float(trace.probs[n, j]), float(trace.y[n] == j)
            return rule
        rule.W_next = trace.weights[f"W{l + 1}"][:, j]  # (H_{l+1},)
        rule.delta_next = trace.deltas[l][n]  # (H_{l+1},)
        rule.upstream = float(rule.W_next @ rule.delta_next)
        rule.u, rule.fprime = float(trace.pre_activations[l - 1][n, j]), float(trace.fprimes[l - 1][n, j])
        rule.du = float(trace.bn_deltas[l - 1][n, j]) if trace.batch_norm else rule.upstream * rule.fprime
        if trace.batch_norm:
            norm = trace.mlp.norms[l - 1]
            du = trace.bn_deltas[l - 1][:, j]  # (N,)
            x_hat = norm.x_hat[:, j]  # (N,)
            rule.bn = {
                "mode": trace.mode,
                "gamma": float(norm.params["weight"][j]),
                "inv_std": float(norm.inv_std[j]),
                "x_hat": float(x_hat[n]),
                "sum_du": float(du.sum()),
                "sum_du_xhat": float(du @ x_hat),
            }
    return rule


def _sum_terms(pairs, total_terms, shown=3):
    """'(u₀·v₀) + (u₁·v₁) + ⋯' for the first ``shown`` pairs of a sum of ``total_terms``."""
    text = " + ".join(rf"{_n(u)}\cdot{_n(v)}" for u, v in pairs[:shown])
    return text + (r" + \cdots" if total_terms > shown else "")


def _aligned(*rows):
    """Rows of an equation, aligned on their first '&'."""
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def chain_rule_latex(rule, activation_module, activation):
    """The chain rule of ``rule`` as LaTeX lines with the numbers; f′ is read from ``activation_module``."""
    l, j, i, n = rule.layer, rule.j, rule.i, rule.n
    N = len(rule.delta)
    s = "" if N == 1 else f"{n},"  # the sample's subscript in a batch
    dW = rf"\frac{{\partial L}}{{\partial W{tex_sup(l)}_{{{j},{i}}}}}"
    if N == 1:
        a_name = f"x_{{{i}}}" if l == 1 else f"a{tex_sup(l - 1)}_{{{i}}}"
        lines = [
            rf"{dW} = \delta{tex_sup(l)}_{{{j}}}\cdot {a_name} = {_n(rule.delta[0])}\cdot"
            rf"{_n(rule.a_prev[0])} = {_n(rule.dW)}"
        ]
    else:
        a_name = f"x_{{n,{i}}}" if l == 1 else f"a{tex_sup(l - 1)}_{{n,{i}}}"
        terms = _sum_terms(list(zip(rule.delta, rule.a_prev)), N)
        lines = [
            _aligned(
                rf"{dW} &= \sum_{{n=0}}^{{{N - 1}}}\delta{tex_sup(l)}_{{n,{j}}}\, {a_name}",
                rf"&= {terms} = {_n(rule.dW)}",
            )
        ]
    d = rf"\delta{tex_sup(l)}_{{{s}{j}}}"
    if rule.is_output:
        y_n = "y" if N == 1 else f"y_{{{n}}}"
        lines.append(
            rf"{d} = \frac{{p_{{{s}{j}}} - \mathbf{{1}}[{j} = {y_n}]}}{{N}} = \frac{{{tex_number(rule.prob)} - "
            rf"{rule.target:g}}}{{{N}}} = {_n(rule.delta[n])}"
        )
        return lines
    K = len(rule.W_next)
    u_name = rf"\tilde z{tex_sup(l)}_{{{s}{j}}}" if rule.bn else rf"z{tex_sup(l)}_{{{s}{j}}}"
    du_name = rf"\frac{{\partial L}}{{\partial \tilde z{tex_sup(l)}_{{{s}{j}}}}}" if rule.bn else d
    fz = rf"f'({u_name})"
    lines.append(
        _aligned(
            rf"{du_name} &= \Big(\sum_{{k=0}}^{{{K - 1}}} "
            rf"W{tex_sup(l + 1)}_{{k,{j}}}\,\delta{tex_sup(l + 1)}_{{{s}k}}\Big)\cdot {fz}",
            rf"&= \big({_sum_terms(list(zip(rule.W_next, rule.delta_next)), K)}\big)\cdot {_n(rule.fprime)}",
            rf"&= {_n(rule.upstream)}\cdot{_n(rule.fprime)} = {_n(rule.du)}",
        )
    )
    lines.append(
        rf"f'(z) = {activation_tex(activation_module, activation)[1]}, \qquad {u_name} = "
        rf"{tex_number(rule.u)}\;\Rightarrow\; {fz} = {tex_number(rule.fprime)}"
    )
    if rule.bn:
        lines.append(_batchnorm_line(rule, d, N))
    return lines


def _batchnorm_line(rule, d, N):
    """δ = ∂L/∂z through batch norm: γ/σ · ∂L/∂z̃ in eval mode, the batch formula in training mode."""
    bn, j = rule.bn, rule.j
    g, inv = _n(bn["gamma"]), tex_number(bn["inv_std"])
    if bn["mode"] == "eval" or N == 1:
        return (
            rf"{d} = \frac{{\gamma_{{{j}}}}}{{\sqrt{{\sigma^2_{{{j}}} + \varepsilon}}}}\,\frac{{\partial L}}"
            rf"{{\partial \tilde z}} = {g}\cdot{inv}\cdot{_n(rule.du)} = {_n(rule.delta[rule.n])}"
            r"\quad(\text{eval mode: running } \mu, \sigma^2)"
        )
    return _aligned(
        rf"{d} &= \frac{{\gamma_{{{j}}}}}{{N\sqrt{{\sigma^2_{{{j}}}+\varepsilon}}}}"
        rf"\Big(N\,\frac{{\partial L}}{{\partial \tilde z_{{{rule.n},{j}}}}}"
        rf" - \sum_m \frac{{\partial L}}{{\partial \tilde z_{{m,{j}}}}} - \hat z_{{{rule.n},{j}}} \sum_m "
        r"\frac{\partial L}"
        rf"{{\partial \tilde z_{{m,{j}}}}}\hat z_{{m,{j}}}\Big)",
        rf"&= \frac{{{g}\cdot{inv}}}{{{N}}}\big({N}\cdot{_n(rule.du)} - {_n(bn['sum_du'])} - {_n(bn['x_hat'])}\cdot"
        rf"{_n(bn['sum_du_xhat'])}\big) = {_n(rule.delta[rule.n])}",
    )

"""The Jacobians view's formulas with the numbers of the sample filled in (LaTeX for ``st.latex``).

For each module of a layer (a ``ModuleJacobians`` of ``core.analysis.jacobians.modules``): the Jacobian's formula,
    Linear:                J = W⁽ˡ⁾;
    element-wise a = f(z): J = diag(f′(z)), f′ read from the module (α, the leaky slope);
    softmax:               J = diag(p) − p pᵀ;
    batch norm, eval:      J = diag(γ / √(running var + ε)); in training mode the batch formula,
and one or two of its entries written out in numbers. Notation from ``core.analysis.text.notation``, as on the
Forward and Backward pages (``core.analysis.text.forward_equations``, ``core.analysis.text.chain_rule``).
"""

from core.analysis.jacobians.modules import module_jacobian
from core.analysis.text.notation import activation_tex, tex_number


def module_latex(mj, activation, batch_norm=False):
    """LaTeX lines for ``st.latex``: the Jacobian formula of ``mj`` (a ``ModuleJacobians``) and one entry in numbers.

    ``batch_norm``: the network has batch norm (an activation then receives z̃, batch norm's output).
    """
    l, J, m = mj.layer, mj.jacobians.get("analytic"), mj.module
    J = module_jacobian(m, mj.x) if J is None else J
    n = lambda v: tex_number(v, brackets=True)  # noqa: E731
    if mj.kind == "linear":
        into = "x" if l == 1 else f"a^{{({l - 1})}}"
        H, D = J.shape
        return [
            rf"J = \frac{{\partial z^{{({l})}}}}{{\partial {into}}} = W^{{({l})}} \in \mathbb{{R}}^{{{H}\times{D}}},"
            rf"\qquad J_{{0,0}} = W^{{({l})}}_{{0,0}} = {tex_number(J[0, 0])}"
        ]
    if mj.kind == "softmax":
        p = m.forward(mj.x[None])[0]  # (C,)
        lines = [
            r"J = \frac{\partial p}{\partial z^{(L)}} = \operatorname{diag}(p) - p\,p^\top,"
            r"\qquad J_{k,k'} = p_k\,(\mathbf{1}[k = k'] - p_{k'})",
            rf"J_{{0,0}} = p_0 (1 - p_0) = {n(p[0])} \cdot {n(1 - p[0])} = {tex_number(J[0, 0])}",
        ]
        if len(p) > 1:
            lines.append(rf"J_{{0,1}} = -p_0\,p_1 = -{n(p[0])} \cdot {n(p[1])} = {tex_number(J[0, 1])}")
        return lines
    if mj.kind == "batch_norm":
        g = m.params["weight"]
        if m.training:
            N = mj.x.shape[0]
            return [
                r"J_{(n,j),(m,i)} = \frac{\partial \tilde z_{n,j}}{\partial z_{m,i}} = \mathbf{1}[i = j]\,"
                r"\frac{\gamma_j}{\sqrt{\sigma_j^2 + \epsilon}}\Big(\mathbf{1}[n = m] - \frac{1}{N} - "
                r"\frac{\hat x_{n,j}\,\hat x_{m,j}}{N}\Big)",
                rf"N = {N}:\ J_{{(0,0),(0,0)}} = {tex_number(J[0, 0])},\quad J_{{(0,0),(1,0)}} = "
                rf"{tex_number(J[0, J.shape[0] // N])}\ \text{{(across samples)}}",
            ]
        v = m.running_var[0]
        return [
            rf"J = \frac{{\partial \tilde z^{{({l})}}}}{{\partial z^{{({l})}}}} = \operatorname{{diag}}\Big("
            r"\frac{\gamma_j}{\sqrt{\mathrm{running\ var}_j + \epsilon}}\Big)",
            rf"J_{{0,0}} = \frac{{{tex_number(g[0])}}}{{\sqrt{{{tex_number(v)} + {tex_number(m.eps)}}}}} = "
            rf"{tex_number(J[0, 0])}",
        ]
    _, fprime = activation_tex(m, activation)
    z = r"\tilde z" if batch_norm else "z"
    return [
        rf"J = \frac{{\partial a^{{({l})}}}}{{\partial {z}^{{({l})}}}} = \operatorname{{diag}}\big(f'({z}_0), "
        rf"\dots, f'({z}_{{{J.shape[0] - 1}}})\big),\qquad f'(z) = {fprime}",
        rf"J_{{0,0}} = f'({tex_number(mj.x[0])}) = {tex_number(J[0, 0])},\qquad J_{{j,i}} = 0 \text{{ for }} j \ne i",
    ]

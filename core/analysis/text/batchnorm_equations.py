"""Batch norm's ∂L/∂γ and ∂L/∂β for one unit, written out as sums with the numbers of ``gamma_beta_sums``
(``core.analysis.batchnorm.layer``)."""

from core.analysis.text.notation import tex_number


def gamma_beta_latex(s, shown=3):
    """Two LaTeX lines, ∂L/∂β⁽ˡ⁾_j and ∂L/∂γ⁽ˡ⁾_j as sums written out with the numbers of the first
    ``shown`` samples (then ⋯ for the rest) and their totals."""
    N, t = len(s.terms), s.terms.head(shown)
    more = r" + \cdots" if N > shown else ""
    beta_terms = " + ".join(tex_number(v, brackets=True) for v in t["dy"]) + more
    gamma_terms = " + ".join(
        rf"{tex_number(d, brackets=True)} \cdot {tex_number(x, brackets=True)}" for d, x in zip(t["dy"], t["x_hat"])
    )
    sub = rf"^{{({s.layer})}}_{{{s.unit}}}"
    return [
        rf"\frac{{\partial L}}{{\partial \beta{sub}}} = \sum_{{n=0}}^{{{N - 1}}} "
        r"\frac{\partial L}{\partial y_{n}}"
        rf" = {beta_terms} = {tex_number(s.dbeta_sum, 6)}",
        rf"\frac{{\partial L}}{{\partial \gamma{sub}}} = \sum_{{n=0}}^{{{N - 1}}} "
        r"\frac{\partial L}{\partial y_{n}}"
        rf"\,\hat{{x}}_{{n}} = {gamma_terms + more} = {tex_number(s.dgamma_sum, 6)}",
    ]

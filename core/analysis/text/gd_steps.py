"""A gradient-descent step near a critical point, written out: LaTeX with the numbers of ``gd_step_near``'s rows
(``core.analysis.curvature.trajectories``), and one sentence per eigen-direction."""

import numpy as np

from core.analysis.text.notation import tex_number


def gd_step_latex(step, H, lr, k):
    """The GD step near a critical point written out in LaTeX, with the numbers of ``gd_step_near``'s rows.

    Lines: H with its eigenvalues and eigenvectors; for each direction i one step
    uᵢ' = (1 − ηλᵢ) uᵢ in numbers; for each direction k steps uᵢ⁽ᵏ⁾ = (1 − ηλᵢ)ᵏ uᵢ in numbers.
    """
    n = tex_number
    (a, b), (_, d) = H
    eig = r",\quad ".join(
        rf"\lambda_{r.direction} = {n(r.eigenvalue)},\ v_{r.direction} = ({n(r.vx)}, {n(r.vy)})"
        for r in step.itertuples()
    )
    lines = [rf"H = \begin{{pmatrix}} {n(a)} & {n(b)} \\ {n(b)} & {n(d)} \end{{pmatrix}}:\quad {eig}"]
    for r in step.itertuples():
        i = r.direction
        lines.append(
            rf"u_{i}' = (1 - \eta\lambda_{i})\,u_{i} = (1 - {n(lr)} \cdot {n(r.eigenvalue, brackets=True)})"
            rf" \cdot {n(r.coord, brackets=True)} = {n(r.factor, brackets=True)} \cdot "
            rf"{n(r.coord, brackets=True)} = {n(r.predicted)}"
        )
    for r in step.itertuples():
        i = r.direction
        with np.errstate(all="ignore"):
            after = r.factor**k * r.coord
        lines.append(
            rf"u_{i}^{{({k})}} = (1 - \eta\lambda_{i})^{{{k}}}\,u_{i} = {n(r.factor, brackets=True)}^{{{k}}}"
            rf" \cdot {n(r.coord, brackets=True)} = {n(after)}"
        )
    return lines


def gd_step_sentences(step):
    """One sentence per eigen-direction: does a GD step shrink (|1 − ηλ| < 1) or grow the distance along it?"""
    out = []
    for r in step.itertuples():
        head = f"λ{'₁₂'[r.direction - 1]} = {r.eigenvalue:.4g}: |1 − ηλ| = {abs(r.factor):.4g}"
        if abs(r.factor) > 1:
            tail = "> 1, the distance grows each step: GD moves away along this direction"
            tail += (
                " (it escapes: the surface curves down)" if r.eigenvalue < 0 else " (the step overshoots: η too large)"
            )
        elif abs(r.factor) < 1:
            tail = "< 1, the distance shrinks each step: GD approaches the point along this direction"
        else:
            tail = "= 1, GD neither approaches nor leaves along this direction"
        out.append(f"{head} {tail}.")
    return out

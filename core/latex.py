"""Numbers written for LaTeX (KaTeX), shared by every page that renders equations with numbers."""

import numpy as np


def tex_number(x, digits=4, brackets=False):
    """``x`` with ``digits`` significant digits: 1.2\\times10^{-5} for 1.2e-05, NaN and ∞ spelt out.

    −0 is written 0. With ``brackets`` a negative number is wrapped in parentheses, so a product
    such as ``a \\cdot (-b)`` reads unambiguously.
    """
    x = float(x) + 0.0  # −0.0 + 0.0 = +0.0
    if np.isnan(x):
        return r"\text{NaN}"
    if np.isinf(x):
        text = r"\infty" if x > 0 else r"-\infty"
    else:
        text = f"{x:.{digits}g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = rf"{mantissa}\times10^{{{int(exponent)}}}"
    return f"({text})" if brackets and x < 0 else text

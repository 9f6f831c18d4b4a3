"""One notation for every page: layer names and superscripts, index convention, numbers in LaTeX, f and f′.

Convention (stated once, shown on the pages): layers are numbered l = 1 … L, layer L is the output
layer (the logits) and a⁽⁰⁾ = x. Every index a person reads (inputs xᵢ, units j, rows j and
columns i of W, classes k) counts from 0, like the array indices of the code, so the unit the
chart calls 3 is ``z[3]`` in NumPy. W⁽ˡ⁾ has PyTorch's layout (H_l, H_{l−1}): row j, column i.
"""

import numpy as np

INDEX_CONVENTION = (
    "Indices count from 0, as in the code: inputs x₀, x₁, …; units j = 0 … H−1; classes k = 0 … C−1. "
    "Layers count from 1 (a⁽⁰⁾ = x is the input, layer L the output)."
)
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUPERSCRIPTS = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")


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


def layer_name(l, n_layers):
    """The name of layer l: "input" (l = 0), "hidden 1", "hidden 2", … or "output" (l = L)."""
    return "input" if l == 0 else "output" if l == n_layers else f"hidden {l}"


def sup(l):
    """The layer superscript for chart titles and captions: 2 → '⁽²⁾'."""
    return f"({l})".translate(SUPERSCRIPTS)


def sub(i):
    """An index as subscript digits: 12 → '₁₂'."""
    return str(i).translate(SUBSCRIPTS)


def tex_sup(l):
    """The layer superscript in LaTeX: ^{(l)}."""
    return f"^{{({l})}}"


def activation_tex(module, name):
    """(f, f′): LaTeX definitions of an activation and its derivative, constants read from ``module``.

    ``module`` is the activation module the network uses (its α or slope appears in the formula);
    ``name`` its key in ``core.nn.activations.ACTIVATIONS``.
    """
    if name == "elu":
        a = "" if module.alpha == 1 else rf"{tex_number(module.alpha)}\,"  # α = 1 is not written
        return (
            rf"\begin{{cases}} z & z > 0 \\ {a}(e^{{z}} - 1) & z \le 0 \end{{cases}}",
            rf"\begin{{cases}} 1 & z > 0 \\ {a}e^{{z}} & z \le 0 \end{{cases}}",
        )
    if name == "leaky_relu":
        s = tex_number(module.negative_slope)
        return (
            rf"\begin{{cases}} z & z > 0 \\ {s}\,z & z \le 0 \end{{cases}}",
            rf"\begin{{cases}} 1 & z > 0 \\ {s} & z \le 0 \end{{cases}}",
        )
    return {
        "relu": (r"\max(z, 0)", r"\mathbf{1}[z > 0]"),
        "tanh": (r"\tanh z", r"1 - \tanh^2 z"),
        "sigmoid": (r"\sigma(z) = \frac{1}{1 + e^{-z}}", r"\sigma(z)\,(1 - \sigma(z))"),
        "identity": ("z", "1"),
    }[name]

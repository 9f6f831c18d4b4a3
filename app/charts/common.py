"""Scales and sizes every chart shares, so the colours mean the same thing on every page."""

import altair as alt
import numpy as np

CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"]  # fmt: skip
SPLIT_COLORS = alt.Scale(domain=["train", "validation"], range=["#1f77b4", "#ff7f0e"])


def diverging_scale(values, scheme="redblue"):
    """A colour scale centred on zero (blue negative, red positive) spanning ±max|values|."""
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    m = float(finite.max()) if finite.size else 1.0
    m = m if m > 0 else 1.0
    return alt.Scale(scheme=scheme, domain=[-m, m], reverse=True)


def class_scale(class_names):
    """Fixed colours per class name, the same on every chart."""
    return alt.Scale(domain=list(class_names), range=CLASS_COLORS[: len(class_names)])


def fmt(x, digits=4):
    """A number for an equation or a caption: 4 significant digits, no trailing noise."""
    return f"{x:.{digits}g}"

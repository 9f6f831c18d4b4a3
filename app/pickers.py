"""Pickers the views share: the sample to follow, a layer, a unit. Each returns plain values."""

from dataclasses import dataclass

import numpy as np
import streamlit as st

from app.controls import clamp, keep
from app.text import plain
from core.analysis.text.notation import layer_name

CUSTOM_RANGE = (-3.0, 3.0)  # a typed point (x₀, x₁) of a 2-D data set, in the data's own units


@dataclass(frozen=True)
class Sample:
    """The sample a page follows through the network."""

    x: np.ndarray  # (D,) standardized: what enters the network
    y: int  # its class
    raw: np.ndarray  # (D,) in the data's own units
    caption: str  # Markdown, e.g. "test sample #3, true class 2" (the class name shown as plain text)


def sample_picker(data, container=None):
    """Pick one sample: a test sample by index, or (2-D data) any point typed in the data's own units.

    The choice survives page switches (keys ``w_sample_*``).
    """
    box = container or st
    n = len(data.y_test)
    keep("w_sample_mode", "test")
    clamp("w_sample_index", 0, n - 1)
    clamp("w_sample_label", 0, data.n_classes - 1)
    keep("w_sample_x0", 0.5)
    keep("w_sample_x1", 0.0)
    mode = "test"
    if data.n_features == 2:
        mode = box.radio(
            "Sample",
            ["test", "custom"],
            horizontal=True,
            key="w_sample_mode",
            format_func={"test": "A test point", "custom": "Any point (x₀, x₁)"}.get,
        )
    if mode == "custom":
        c1, c2, c3 = box.columns(3)
        x0 = c1.number_input("x₀", *CUSTOM_RANGE, step=0.1, key="w_sample_x0")
        x1 = c2.number_input("x₁", *CUSTOM_RANGE, step=0.1, key="w_sample_x1")
        y = c3.selectbox(
            "True class", range(data.n_classes), format_func=lambda c: data.class_names[c], key="w_sample_label"
        )
        raw = np.array([x0, x1])
        return Sample(data.from_raw(raw), int(y), raw, f"point ({x0:g}, {x1:g}), labelled {plain(data.class_names[y])}")
    i = box.number_input(f"Test sample (0 to {n - 1})", 0, n - 1, step=1, key="w_sample_index")
    y = int(data.y_test[i])
    x = data.X_test[i]
    return Sample(x, y, data.to_raw(x[None])[0], f"test sample #{i}, true class {plain(data.class_names[y])}")


def layer_picker(n_layers, key, container=None, label="Layer", first=1):
    """A select of layers ``first`` … L named "hidden 1" … "output"; kept in range when the network changes."""
    clamp(key, first, n_layers)
    return (container or st).selectbox(
        label, range(first, n_layers + 1), key=key, format_func=lambda l: f"{l}: {layer_name(l, n_layers)}"
    )


def unit_picker(size, key, container=None, label="Unit j", default=0):
    """A whole-number input 0 … size − 1 (indices count from 0); kept in range when the layer changes."""
    clamp(key, 0, size - 1, default)
    return (container or st).number_input(f"{label} (0 to {size - 1})", 0, size - 1, step=1, key=key)

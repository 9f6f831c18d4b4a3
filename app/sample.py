"""The sample a page follows through the network, shared by the Forward and Backward pages."""

import numpy as np
import streamlit as st

from app.controls import keep


def sample_picker(data, container=None):
    """Pick one sample; returns (x (D,) standardized, label, caption).

    Toy sets: a test point by index, or any point typed in the data's own coordinates.
    Images: a test image by index (shown beside the picker). The choice survives page switches.
    """
    box = container or st
    n = len(data.y_test)
    for key, default in (("w_sample_mode", "test"), ("w_sample_x1", 0.5), ("w_sample_x2", 0.0), ("w_sample_label", 0)):
        keep(key, default)
    keep("w_sample_index", 0)
    st.session_state.w_sample_index = min(int(st.session_state.w_sample_index), n - 1)  # a smaller data set
    st.session_state.w_sample_label = min(int(st.session_state.w_sample_label), data.n_classes - 1)
    mode = "test"
    if data.image_shape is None:
        mode = box.radio("Sample", ["test", "custom"], horizontal=True, key="w_sample_mode",
                         format_func={"test": "A test point", "custom": "Any point (x₁, x₂)"}.get)  # fmt: skip
    if mode == "custom":
        c1, c2, c3 = box.columns(3)
        x1 = c1.number_input("x₁", -3.0, 3.0, step=0.1, key="w_sample_x1")
        x2 = c2.number_input("x₂", -3.0, 3.0, step=0.1, key="w_sample_x2")
        label = c3.selectbox("True class", range(data.n_classes), format_func=lambda c: data.class_names[c],
                             key="w_sample_label")  # fmt: skip
        raw = np.array([x1, x2])
        x = (raw / data.raw_scale - data.mean) / data.std
        return x, int(label), f"point ({x1:g}, {x2:g}), labelled {data.class_names[label]}"
    i = box.number_input(f"Test sample (0 to {n - 1})", 0, n - 1, step=1, key="w_sample_index")
    y = int(data.y_test[i])
    return data.X_test[i], y, f"test sample #{i}, true class {data.class_names[y]}"


def sample_image(data, x):
    """The raw image of a standardized sample, scaled to [0, 1] for ``st.image`` (H, W) or (H, W, 3)."""
    raw = data.to_raw(x[None, :])[0] / data.raw_scale
    img = raw.reshape(data.image_shape)
    if img.ndim == 3:  # CIFAR: channel-first in the file
        img = img.transpose(1, 2, 0)
    return np.clip(img, 0, 1)

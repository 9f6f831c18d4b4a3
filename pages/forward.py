"""Forward pass: one sample through the current network, every z and a, the equations in numbers."""

import pandas as pd
import streamlit as st

from app.charts.display import chart_height, show_chart, show_table
from app.charts.forward import MAX_BAR_UNITS, layer_chart, network_diagram, probs_chart, sample_plane_chart
from app.controls import label, sidebar
from app.pickers import layer_picker, sample_picker, unit_picker
from app.session import dataset_or_stop, show_weights_note, trainer_or_stop
from app.text import plain
from core.analysis.text.forward_equations import (
    activation_latex,
    batchnorm_latex,
    input_latex,
    linear_latex,
    loss_latex,
    softmax_latex,
    unit_equation,
)
from core.analysis.text.notation import INDEX_CONVENTION
from core.analysis.traces.evaluation import points_frame
from core.analysis.traces.forward_trace import (
    MAX_DIAGRAM_EDGES,
    MAX_DIAGRAM_UNITS,
    diagram_frames,
    diagram_layers,
    forward_trace,
    input_frame,
)
from core.data.images import zoom

config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)

st.title("Forward pass")
show_weights_note(config, trainer)
st.caption(INDEX_CONVENTION)

pick, look, result = st.columns([1, 1.3, 1.3], gap="large")
with pick:
    sample = sample_picker(data)
trace = forward_trace(trainer.weights(), config.activation, sample.x, sample.y)
names, L = data.class_names, trace.n_layers
with pick:
    st.caption(sample.caption)
    st.metric(
        "Predicted class",
        "–" if trace.predicted is None else plain(names[trace.predicted]),
        help="The class with the largest probability.",
    )
    st.metric("Loss = −log p(true class)", f"{trace.loss:.4g}")
with look:
    if data.image_shape is not None:
        st.image(zoom(data.image(sample.x), 200), caption=f"The input: {data.n_features} pixel values")
    elif data.n_features == 2:
        point = pd.DataFrame([sample.raw], columns=["x0", "x1"])
        show_chart(sample_plane_chart(points_frame(data, ("test",)), point, names, chart_height(300)), name="sample")
with result:
    show_chart(probs_chart(trace.probs_frame(names), chart_height(max(300, 120 + 30 * len(names)))), name="probs")
if not trace.is_finite:
    st.warning(
        "Some numbers of this forward pass are NaN or ∞: the weights are so large that z overflows. The "
        "equations say NaN, the charts leave those values out.",
        icon=":material/blur_off:",
    )

st.subheader("The input: from the data's units to x")
inputs = input_frame(data, sample.x)
if data.image_shape is not None:
    st.caption(
        f"Each of the {data.n_features} pixel values p (0 to {data.raw_scale:g}) enters the network as "
        "xᵢ = (pᵢ − meanᵢ) / stdᵢ, with the mean and standard deviation of the training set: the same "
        "standardization every training sample went through."
    )
elif data.n_features <= 4:
    for line in input_latex(inputs):
        st.latex(line)
    st.caption(
        "raw: the sample in the data's own units (the plot's coordinates); mean and std: of the training "
        "set. The network only ever sees the standardized x."
    )
else:
    show_table(inputs)

net_box = st.container()  # filled once the unit to highlight is chosen
st.subheader("Follow one unit")
choose, equations = st.columns([1, 4], gap="large")
layer = layer_picker(L, "w_fwd_layer", choose)
unit = unit_picker(trace.widths[layer], "w_fwd_unit", choose)
eq = unit_equation(trace, layer, unit)
with equations:
    lines = [*linear_latex(eq)]
    if layer < L:
        lines += [*(batchnorm_latex(eq) if eq.bn else ()), *activation_latex(eq, trace.mlp.nonlinearities[layer - 1])]
    else:
        lines += softmax_latex(trace, unit)
    for line in lines:
        st.latex(line)
if eq.n_rest:
    choose.caption(f"The {len(eq.terms)} largest of the {len(eq.terms) + eq.n_rest} products W·a are written out.")

with net_box:
    st.subheader("The network")
    include_input = data.image_shape is None
    drawn = diagram_layers(trace, include_input)
    if drawn is None:
        st.info(
            f"This network is too large to draw unit by unit (more than {MAX_DIAGRAM_UNITS} units in a layer "
            f"or {MAX_DIAGRAM_EDGES:,} weights). Here is a summary per layer instead.",
            icon=":material/zoom_out_map:",
        )
        show_table(trace.summary_frame())
    else:
        nodes, edges = diagram_frames(trace, drawn, names)
        layer_names = [trace.layer_name(l) for l in range(L + 1)]
        show_chart(network_diagram(nodes, edges, layer_names, chart_height(420), (layer, unit)), name="network")
        if not include_input:
            st.caption(f"The {data.n_features} input pixels are not drawn: the first column is hidden layer 1.")

f = label(config.activation)
steps = "z = W a, batch norm z̃ = BN(z), then a = f(z̃)" if trace.batch_norm else "z = W a + b, then a = f(z)"
st.subheader(f"Every layer: {steps}")
units = trace.units_frame()
n_cols = 1 if max(trace.widths[1:]) > MAX_BAR_UNITS else min(3, L)
for start in range(1, L + 1, n_cols):
    for col, l in zip(st.columns(n_cols), range(start, min(start + n_cols, L + 1))):
        what = (
            "logits z and p = softmax(z)"
            if l == L
            else f"z, z̃ and a = {f}(z̃)"
            if trace.batch_norm
            else f"z and a = {f}(z)"
        )
        chart = layer_chart(units[units["layer"] == l], trace.layer_name(l), chart_height(300), l == L, what)
        show_chart(chart, col, name=f"layer-{l}")

st.subheader("From logits to loss")
for line in (*softmax_latex(trace, trace.y), loss_latex(trace)):
    st.latex(line)

with st.expander("How to read this page"):
    st.markdown(
        "Each layer multiplies the previous layer's outputs by its weights and adds a bias, "
        "**z = W a + b**, then applies the activation **a = f(z)** element by element (with batch norm, z is "
        "first normalized with the running mean and variance of training, then scaled by γ and shifted by β). "
        "The output layer has no activation: its z are the *logits*, which softmax turns into probabilities "
        "that sum to 1. The loss is **−log** of the probability given to the true class: near 0 when the network "
        "is confident and right, large when it is confident and wrong. In the diagram, red lines are positive "
        "weights and blue lines negative ones; thicker means larger."
    )

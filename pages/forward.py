"""Forward pass: one sample through the current network, every z and a, the equations in numbers."""

import numpy as np
import pandas as pd
import streamlit as st

from app.charts.display import chart_height, show_chart
from app.charts.forward import MAX_BAR_UNITS, layer_chart, network_diagram, probs_chart, sample_plane_chart
from app.controls import label, sidebar
from app.pickers import layer_picker, sample_picker, unit_picker
from app.session import dataset_or_stop, show_weights_note, trainer_or_stop
from core.analysis.evaluation import points_frame
from core.analysis.forward_equations import (
    activation_latex,
    batchnorm_latex,
    linear_latex,
    loss_latex,
    softmax_latex,
    unit_equation,
)
from core.analysis.forward_trace import (
    MAX_DIAGRAM_EDGES,
    MAX_DIAGRAM_UNITS,
    diagram_frames,
    diagram_layers,
    forward_trace,
)
from core.data.images import zoom

config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)

st.title("Forward pass")
show_weights_note(config, trainer)

pick, look, result = st.columns([1, 1.3, 1.3], gap="large")
with pick:
    sample = sample_picker(data)
x, y, caption = sample.x, sample.y, sample.caption
trace = forward_trace(trainer.weights(), config.activation, x, y)
names = data.class_names
with pick:
    st.caption(caption)
    predicted = "–" if trace.predicted is None else names[trace.predicted]
    st.metric("Predicted class", predicted, help="The class with the largest probability.")
    st.metric("Loss = −log p(true class)", f"{trace.loss:.4g}")
with look:
    if data.image_shape is not None:
        st.image(zoom(data.image(x), 200), caption=f"The input: {data.n_features} pixel values")
    elif data.n_features == 2:
        point = pd.DataFrame(sample.raw[None], columns=["x1", "x2"])
        show_chart(sample_plane_chart(points_frame(data, ("test",)), point, names, chart_height(300)))
with result:
    height = chart_height(max(300, 120 + 30 * len(names)))  # 30 px a class
    show_chart(probs_chart(trace.probs_frame(names), height))
if not trace.is_finite:
    st.error("Some numbers of this network are not finite (NaN or ∞): the weights or activations blew up. "
             "Lower the learning rate on the Playground and reset the run.", icon=":material/warning:")  # fmt: skip

net_box = st.container()  # filled once the unit to highlight is chosen
st.subheader("Follow one unit")
L = trace.n_layers
choose, equations = st.columns([1, 4], gap="large")
layer = layer_picker(L, "w_fwd_layer", choose)
unit = unit_picker(trace.widths[layer], "w_fwd_unit", choose)
eq = unit_equation(trace, layer, unit)
with equations:
    for line in linear_latex(eq):
        st.latex(line)
    if layer < L:
        for line in batchnorm_latex(eq) if eq.bn else ():
            st.latex(line)
        for line in activation_latex(eq, trace.mlp.nonlinearities[layer - 1]):
            st.latex(line)
    else:
        for line in softmax_latex(trace, unit):
            st.latex(line)
if eq.n_rest:
    choose.caption(f"The {len(eq.terms)} largest of the {len(eq.terms) + eq.n_rest} products W·a are written out.")

with net_box:
    st.subheader("The network")
    include_input = data.image_shape is None
    drawn = diagram_layers(trace, include_input)
    if drawn is None:
        st.info(f"This network is too large to draw unit by unit (more than {MAX_DIAGRAM_UNITS} units in a layer "
                f"or {MAX_DIAGRAM_EDGES:,} weights). Here is a summary per layer instead.", icon=":material/zoom_out_map:")  # fmt: skip
        table = trace.summary_frame()
        for col in table.select_dtypes("float").columns:  # "–" where a layer has no such number (the input)
            table[col] = table[col].map(lambda v: "–" if np.isnan(v) else f"{v:.4g}")
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        nodes, edges = diagram_frames(trace, drawn, names)
        layer_names = [trace.layer_name(l) for l in range(L + 1)]
        chart = network_diagram(nodes, edges, layer_names, chart_height(420), selected=(layer, unit))
        show_chart(chart)
        if not include_input:
            st.caption(f"The {data.n_features} input pixels are not drawn: the first column is hidden layer 1.")

st.subheader("Every layer: z = W a + b, then a = f(z)")
units = trace.units_frame()
wide = max(trace.widths[1:]) > MAX_BAR_UNITS
n_cols = 1 if wide else min(3, L)
for start in range(1, L + 1, n_cols):
    for col, l in zip(st.columns(n_cols), range(start, min(start + n_cols, L + 1))):
        title = f"{trace.layer_name(l)}: z and a = {label(config.activation)}(z)"
        if l == L:
            title = "output: logits z and p = softmax(z)"
        show_chart(layer_chart(units[units["layer"] == l], title, chart_height(300)), col)

st.subheader("From logits to loss")
for line in (*softmax_latex(trace, trace.y), loss_latex(trace)):
    st.latex(line)

with st.expander("How to read this page"):
    st.markdown(
        "Each layer multiplies the previous layer's outputs by its weights and adds a bias, "
        "**z = W a + b**, then applies the activation **a = f(z)** element by element. The output "
        "layer has no activation: its z are the *logits*, which softmax turns into probabilities "
        "that sum to 1. The loss is **−log** of the probability given to the true class: near 0 "
        "when the network is confident and right, large when it is confident and wrong. In the "
        "diagram, red lines are positive weights and blue lines negative ones; thicker means larger."
    )

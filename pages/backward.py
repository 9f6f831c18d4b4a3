"""Backward pass: δ at every layer, gradient heatmaps, one weight's chain rule, NumPy vs autograd."""

import numpy as np
import pandas as pd
import streamlit as st

from app.charts.backward import (
    comparison_table,
    delta_chart,
    delta_norm_chart,
    depth_profile_chart,
    difference_chart,
    grad_norm_chart,
    gradient_heatmap,
    vanishing_chart,
)
from app.charts.display import chart_height, show_chart, show_table
from app.charts.forward import sample_plane_chart
from app.controls import keep, label, sidebar
from app.live import advance
from app.pickers import layer_picker, sample_picker, unit_picker
from app.session import data_key, dataset_or_stop, show_weights_note, trainer_or_stop
from core.analysis.text.chain_rule import chain_rule, chain_rule_latex
from core.analysis.text.notation import INDEX_CONVENTION, sup
from core.analysis.traces.autograd_check import compare_with_autograd
from core.analysis.traces.backward_trace import MAX_CELLS, backward_trace, delta_frame, delta_norms
from core.analysis.traces.evaluation import points_frame
from core.analysis.traces.grad_flow import gradient_norms_by_depth, gradient_ratio_summary
from core.training.batches import draw_batch

MAX_BATCH = 256  # samples backpropagated at most on this page
VANISHING = {"activations": ("sigmoid", "relu", "elu"), "depth": 8, "width": 32, "steps": 100}


@st.cache_data(max_entries=4, show_spinner=False)
def cached_trace(weights, activation, X, y):
    return backward_trace(weights, activation, X, y)


@st.cache_data(max_entries=8, show_spinner="Running PyTorch autograd on the same weights…")
def cached_comparison(_trace, weights, X, y, activation, dtype):
    """Autograd against ``_trace`` (the trace of exactly these arguments)."""
    return compare_with_autograd(_trace, dtype)


@st.cache_data(max_entries=8, show_spinner="Training three 8-layer networks for 100 steps…")
def cached_vanishing(key, _data):
    return gradient_norms_by_depth(_data, **VANISHING)


config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)

st.title("Backward pass")
show_weights_note(config, trainer, "on the Playground or below")
st.caption(INDEX_CONVENTION)

keep("w_bwd_source", "sample")
pick, look, info = st.columns([1, 1.2, 1.2], gap="large")
source = pick.radio(
    "Backpropagate",
    ["sample", "batch"],
    horizontal=True,
    key="w_bwd_source",
    format_func={"sample": "One sample", "batch": "A mini-batch"}.get,
)
if source == "sample":
    with pick:
        sample = sample_picker(data)
    X, Y, caption, raw = sample.x[None, :], np.array([sample.y]), sample.caption, sample.raw[None, :]
else:
    keep("w_bwd_draw", 0)
    draw = pick.number_input("Which mini-batch (a seeded draw)", 0, 9_999, step=1, key="w_bwd_draw")
    batch = draw_batch(len(data.y_train), config.batch_size, config.seed, draw, cap=MAX_BATCH)
    X, Y = data.X_train[batch.indices], data.y_train[batch.indices]
    note = batch.note(len(data.y_train))
    caption, raw = f"{batch.size} training samples, draw #{draw}" + (f" ({note})" if note else ""), data.to_raw(X)
if data.n_features == 2:
    what = "The sample (✚) among the test points" if source == "sample" else "The mini-batch (✚) and the test points"
    points = pd.DataFrame(raw, columns=["x0", "x1"])
    show_chart(
        sample_plane_chart(points_frame(data, ("test",)), points, data.class_names, chart_height(260), what),
        look,
        name="sample",
    )
    look.caption(
        "The plot is in the data's own units; the network, and every number below, uses the standardized "
        "x = (raw − mean) / std (written out on the Forward pass page)."
    )

weights = trainer.weights()
trace = cached_trace(weights, config.activation, X, Y)
L, N = trace.n_layers, len(Y)
with info:
    st.caption(f"Backpropagating {caption}.")
    st.metric("Loss L", f"{trace.loss:.4g}", help="Mean cross-entropy over the samples.")
    c1, c2 = st.columns(2)
    c1.metric("Samples N", N)
    c2.metric("Layers L", L, help="Layers with weights: the hidden layers and the output layer.")
if not trace.is_finite:
    st.warning(
        "Some gradients of this network are NaN or ∞: the weights are so large that the numbers overflow. "
        "The equations say NaN, the charts leave those values out.",
        icon=":material/blur_off:",
    )

st.subheader("δ = ∂L/∂z: the error signal at every layer")
left, right = st.columns([3, 1])
rows = 2 * L - 1 if trace.batch_norm else L
height = chart_height(max(220, 36 * rows + 90))  # every row labelled
show_chart(delta_chart(delta_frame(trace), height, pooled=max(trace.widths[1:]) > MAX_CELLS), left, name="delta")
show_chart(delta_norm_chart(delta_norms(trace), height), right, name="delta-norms")
rule = (
    "δˡ = BN′ᵀ((δˡ⁺¹ Wˡ⁺¹) ⊙ f′(z̃ˡ)): first ∂L/∂z̃ˡ, then back through batch norm"
    if trace.batch_norm
    else ("δˡ = (δˡ⁺¹ Wˡ⁺¹) ⊙ f′(zˡ)")
)
st.caption(
    "Backpropagation starts at the output, δ = (p − onehot(y)) / N, and carries δ back one layer at a time: "
    f"{rule}." + ("" if N == 1 else " For a mini-batch the heatmap shows sample 0 and ‖δ‖ covers the batch.")
)

st.subheader("The gradient of one layer, and the chain rule for one weight")
choose, maps = st.columns([1, 4], gap="large")
layer = layer_picker(L, "w_bwd_layer", choose, "Layer l")
H, H_prev = trace.weights[f"W{layer}"].shape
j = unit_picker(H, "w_bwd_j", choose, f"Row j: unit of layer {layer}")
source_name = "input xᵢ" if layer == 1 else f"unit of layer {layer - 1}"
first = int(np.argmax(np.abs(X[0])))  # the first visit shows an input that is not 0 (image borders are)
i = unit_picker(H_prev, "w_bwd_i", choose, f"Column i: {source_name}", default=first)
vectors = {"gamma": "γ", "beta": "β"} if f"gamma{layer}" in trace.grads else {"b": "b"}  # batch norm: no b
with maps:
    w_col, *v_cols = st.columns([4, *[1.1] * len(vectors)])
    dW = gradient_heatmap(
        trace.grads[f"W{layer}"],
        f"∂L/∂W{sup(layer)}  ({H} × {H_prev})",
        f"column i = {source_name}",
        f"row j = unit of layer {layer}",
        "∂L/∂W",
        (j, i),
        chart_height(320),
    )
    show_chart(dW, w_col, name="dW")
    for col, (v, symbol) in zip(v_cols, vectors.items()):
        show_chart(
            gradient_heatmap(
                trace.grads[f"{v}{layer}"][:, None],
                f"∂L/∂{symbol}{sup(layer)}",
                "",
                "row j",
                f"∂L/∂{symbol}",
                (j, 0),
                chart_height(320),
            ),
            col,
            name=f"d{v}",
        )
    if max(H, H_prev) > MAX_CELLS:
        st.caption(
            f"More than {MAX_CELLS} rows or columns: each cell is a block of weights showing the entry of "
            "largest |value| (hover for the units it covers)."
        )
    if "gamma" in vectors:
        st.caption("With batch norm this layer has no bias b: β shifts the normalized z instead, γ scales it.")
rule = chain_rule(trace, layer, j, i)
for line in chain_rule_latex(rule, trace.mlp.nonlinearities[layer - 1] if layer < L else None, config.activation):
    st.latex(line)
cmp, autograd = cached_comparison(trace, weights, X, Y, config.activation, config.dtype)
how = (
    "Chain rule for one sample."
    if N == 1
    else (
        f"Chain rule for a batch: L is the mean over the {N} samples, so every δₙ carries 1/N and the sum over n "
        "averages the per-sample gradients; δ is expanded for sample 0."
    )
)
autograd_entry = float(autograd["grads"][f"W{layer}"][j, i])
st.caption(
    f"{how} PyTorch autograd, from the same weights, gives ∂L/∂W{sup(layer)}[{j}, {i}] = {autograd_entry:.6g} "
    f"({config.dtype}); the sum written out differs from it by {abs(rule.dW - autograd_entry):.1e}."
)

st.subheader("Hand-derived NumPy gradients vs PyTorch autograd")
show_table(
    comparison_table(cmp, L),
    formats={
        "max |NumPy − autograd|": "{:.1e}",
        "relative difference": "{:.1e}",
        "finite": lambda ok: "✓" if ok else "✗ NaN or ∞",
    },
)
eps = float(np.finfo(config.dtype).eps)
bars, note = st.columns([3, 2], gap="large")
show_chart(difference_chart(cmp, eps, chart_height(340)), bars, name="differences")
note.caption(
    f"Both in {config.dtype} from identical weights and inputs; δ from autograd via retain_grad on every z. "
    f"Differences near machine ε ({eps:.1e}, the dashed line) are round-off: the two computations add the "
    "same numbers in a different order. A real mistake in a hand-derived gradient shows as a difference "
    "near the size of the gradient itself."
)

st.subheader("Gradient norms per layer during training")
stuck = bool(trainer.diverged) or trainer.finished
if st.button(
    "Train 50 steps here",
    key="w_bwd_train",
    disabled=stuck,
    help="Trains the same run as the Playground." if not stuck else "This run cannot go on: reset it.",
):
    advance(trainer, steps=50, budget_s=5.0)  # a divergence is reported by run_status after the rerun
    st.rerun()
norms = trainer.grad_norms()
if norms.empty:
    st.info(
        "No training steps yet: train on the Playground (or press the button) and come back to watch "
        "‖∂L/∂W‖ of every layer change.",
        icon=":material/show_chart:",
    )
else:
    show_chart(grad_norm_chart(norms, "‖∂L/∂Wˡ‖ of this run, one line per layer", chart_height(300)), name="norms")

st.subheader("Vanishing gradients: 8 sigmoid layers vs 8 ReLU or ELU layers")
st.markdown(
    f"One click trains a network of {VANISHING['depth']} hidden layers × {VANISHING['width']} units with each "
    f"activation for {VANISHING['steps']} steps on this data set and records the gradient norm of every layer."
)
if st.button("Compare sigmoid, ReLU and ELU", key="w_bwd_vanish", type="primary"):
    st.session_state.w_bwd_vanishing = True
if st.session_state.get("w_bwd_vanishing"):
    vanish = cached_vanishing(data_key(config), data)
    summary = gradient_ratio_summary(vanish).set_index("activation")["ratio"]
    labels = {a: label(a) for a in VANISHING["activations"]}
    text, profile = st.columns([2, 3], gap="large")
    text.markdown(
        f"Before any update, **layer 1 of the sigmoid net gets {summary['sigmoid']:.1e}× the gradient of its "
        f"output layer**; with ReLU {summary['relu']:.2g}×, with ELU {summary['elu']:.2g}×.\n\n"
        "On the way back each sigmoid layer multiplies δ by σ′(z) ≤ ¼, so after 8 layers almost nothing is "
        "left and the first layers barely learn. ReLU and ELU pass δ through unchanged wherever z > 0."
    )
    show_chart(depth_profile_chart(vanish, labels, 1, chart_height(280)), profile, name="depth-profile")
    show_chart(vanishing_chart(vanish, labels, chart_height(240), 230), width="content", name="vanishing")
    st.caption(
        f"{VANISHING['depth']} hidden layers of {VANISHING['width']} units, plain SGD lr 0.1, batch 64, "
        f"{VANISHING['steps']} steps on {label(config.dataset)}; Kaiming initial weights from one seed."
    )

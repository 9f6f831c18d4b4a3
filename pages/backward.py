"""Backward pass: δ at every layer, gradient heatmaps, one weight's chain rule, NumPy vs autograd."""

import numpy as np
import streamlit as st

from app.charts.backward import (
    delta_chart,
    delta_norm_chart,
    depth_profile_chart,
    difference_chart,
    grad_norm_chart,
    gradient_heatmap,
    vanishing_chart,
)
from app.charts.display import chart_height, show_chart
from app.controls import keep, label, sidebar
from app.live import advance
from app.pickers import layer_picker, sample_picker, unit_picker
from app.session import dataset_or_stop, show_weights_note, trainer_or_stop
from core.analysis.autograd_check import compare_with_autograd
from core.analysis.backward_trace import MAX_CELLS, backward_trace, delta_frame
from core.analysis.chain_rule import chain_rule, chain_rule_latex
from core.analysis.grad_flow import gradient_norms_by_depth, gradient_ratio_summary
from core.analysis.notation import sup
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
def cached_vanishing(data_key, _data):
    return gradient_norms_by_depth(_data, **VANISHING)


config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)

st.title("Backward pass")
show_weights_note(config, trainer, "on the Playground or below")

keep("w_bwd_source", "sample")
pick, info = st.columns([1, 2], gap="large")
source = pick.radio("Backpropagate", ["sample", "batch"], horizontal=True, key="w_bwd_source",
                    format_func={"sample": "One sample", "batch": "A mini-batch"}.get)  # fmt: skip
if source == "sample":
    with pick:
        sample = sample_picker(data)
    X, Y, caption = sample.x[None, :], np.array([sample.y]), sample.caption
else:
    keep("w_bwd_draw", 0)
    draw = pick.number_input("Which mini-batch (a seeded draw)", 0, 9_999, step=1, key="w_bwd_draw")
    batch = draw_batch(len(data.y_train), config.batch_size, config.seed, draw, cap=MAX_BATCH)
    X, Y = data.X_train[batch.indices], data.y_train[batch.indices]
    note = batch.note(len(data.y_train))
    caption = f"{batch.size} training samples, draw #{draw}" + (f" ({note})" if note else "")

weights = trainer.weights()
trace = cached_trace(weights, config.activation, X, Y)
L, N = trace.n_layers, len(Y)
with info:
    st.caption(f"Backpropagating {caption}.")
    c1, c2, c3 = st.columns(3)
    c1.metric("Loss L", f"{trace.loss:.4g}", help="Mean cross-entropy over the samples.")
    c2.metric("Samples N", N)
    c3.metric("Layers with weights", L)
if not trace.is_finite:
    st.error("Some gradients of this network are not finite (NaN or ∞): the weights blew up. Lower the "
             "learning rate on the Playground and reset the run.", icon=":material/warning:")  # fmt: skip

st.subheader("δ = ∂L/∂z: the error signal at every layer")
batch_note = "" if N == 1 else " For a mini-batch the chart shows Σₙ δₙ, which is ∂L/∂b."
left, right = st.columns([3, 1])
height = chart_height(max(220, 36 * L + 90))  # every layer's row labelled
show_chart(delta_chart(delta_frame(trace), height, pooled=max(trace.widths[1:]) > MAX_CELLS), left, name="delta")
show_chart(delta_norm_chart(trace, height), right, name="delta-norms")
st.caption("Backpropagation starts at the output, δ = (p − onehot(y)) / N, and carries δ back one layer at a "
           f"time: δˡ = (δˡ⁺¹ Wˡ⁺¹) ⊙ f′(zˡ).{batch_note}")  # fmt: skip

st.subheader("The gradient of one layer, and the chain rule for one weight")
if "w_bwd_i" not in st.session_state:  # first visit: an input that is not 0 (image borders are)
    st.session_state.w_bwd_i = int(np.argmax(np.abs(X[0])))
choose, maps = st.columns([1, 4], gap="large")
layer = layer_picker(L, "w_bwd_layer", choose, "Layer l")
H, H_prev = trace.weights[f"W{layer}"].shape
j = unit_picker(H, "w_bwd_j", choose, f"Row j: unit of layer {layer}")
source_name = "input feature" if layer == 1 else f"unit of layer {layer - 1}"
i = unit_picker(H_prev, "w_bwd_i", choose, f"Column i: {source_name}")
dW, db = trace.grads[f"W{layer}"], trace.grads[f"b{layer}"]
with maps:
    w_col, b_col = st.columns([4, 1.2])
    show_chart(gradient_heatmap(dW, f"∂L/∂W{sup(layer)}  ({H} × {H_prev})", "column i (input to the layer)",
                                "row j (unit of the layer)", "∂L/∂W", (j, i), chart_height(320)), w_col)  # fmt: skip
    show_chart(gradient_heatmap(db[:, None], f"∂L/∂b{sup(layer)}", "", "row j", "∂L/∂b", (j, 0),
                                chart_height(320)), b_col)  # fmt: skip
    if max(H, H_prev) > MAX_CELLS:
        st.caption(f"More than {MAX_CELLS} rows or columns: each cell is a block of weights showing the entry of "
                   "largest |value| (hover for the units it covers).")  # fmt: skip
rule = chain_rule(trace, layer, j, i)
for line in chain_rule_latex(rule, trace.mlp.nonlinearities[layer - 1] if layer < L else None, config.activation):
    st.latex(line)
cmp, autograd = cached_comparison(trace, weights, X, Y, config.activation, config.dtype)
if N == 1:
    how = "Chain rule for one sample."
else:
    how = (f"Chain rule for a batch: L is the mean over the {N} samples, so every δₙ carries 1/N and the sum "
           "over n averages the per-sample gradients; δ is expanded for sample 1.")  # fmt: skip
autograd_entry = float(autograd["grads"][f"W{layer}"][j, i])
st.caption(f"{how} PyTorch autograd, from the same weights, gives ∂L/∂W{sup(layer)}[{j}, {i}] = {autograd_entry:.6g} "
           f"({config.dtype}); the sum written out differs from it by {abs(rule.dW - autograd_entry):.1e}.")  # fmt: skip

st.subheader("Hand-derived NumPy gradients vs PyTorch autograd")
table, bars = st.columns([3, 2], gap="medium")
table.dataframe(cmp.drop(columns="torch_norm"), hide_index=True, width="stretch", column_config={
    "max_abs_diff": st.column_config.NumberColumn("max |NumPy − torch|", format="%.2e"),
    "max_rel_diff": st.column_config.NumberColumn("max relative", format="%.2e"),
    "numpy_norm": st.column_config.NumberColumn("‖gradient‖", format="%.4g"),
    "finite": st.column_config.CheckboxColumn("finite"),
})  # fmt: skip
eps = float(np.finfo(config.dtype).eps)
show_chart(difference_chart(cmp, eps, chart_height(280)), bars)
st.caption(f"Both in {config.dtype} from identical weights and inputs; δ from autograd via retain_grad on every z. "
           f"Differences near machine ε ({eps:.1e}) are round-off: the two computations add in a different order.")  # fmt: skip

st.subheader("Gradient norms per layer during training")
if st.button("Train 50 steps here", key="w_bwd_train", help="Trains the same run as the Playground."):
    message = advance(trainer, steps=50, budget_s=5.0)
    if message:
        st.warning(message, icon=":material/error:")
    st.rerun()
norms = trainer.grad_norms()
if norms.empty:
    st.info("No training steps yet: train on the Playground (or press the button) and come back to watch "
            "‖∂L/∂W‖ of every layer change.", icon=":material/show_chart:")  # fmt: skip
else:
    show_chart(grad_norm_chart(norms, "‖∂L/∂Wˡ‖ of this run, one line per layer", chart_height(300)))

st.subheader("Vanishing gradients: 8 sigmoid layers vs 8 ReLU or ELU layers")
st.markdown(
    f"One click trains a network of {VANISHING['depth']} hidden layers × {VANISHING['width']} units with each "
    f"activation for {VANISHING['steps']} steps on this data set and records the gradient norm of every layer."
)
if st.button("Compare sigmoid, ReLU and ELU", key="w_bwd_vanish", type="primary"):
    st.session_state.w_bwd_vanishing = True
if st.session_state.get("w_bwd_vanishing"):
    vanish = cached_vanishing(config.data_key(), data)
    summary = gradient_ratio_summary(vanish).set_index("activation")["ratio"]
    labels = {a: label(a) for a in VANISHING["activations"]}
    text, profile = st.columns([2, 3], gap="large")
    text.markdown(
        f"Before any update, **layer 1 of the sigmoid net gets {summary['sigmoid']:.1e}× the gradient of its "
        f"output layer**; with ReLU {summary['relu']:.2g}×, with ELU {summary['elu']:.2g}×.\n\n"
        "On the way back each sigmoid layer multiplies δ by σ′(z) ≤ ¼, so after 8 layers almost nothing is "
        "left and the first layers barely learn. ReLU and ELU pass δ through unchanged wherever z > 0."
    )
    show_chart(depth_profile_chart(vanish, labels, 1, chart_height(280)), profile)
    show_chart(vanishing_chart(vanish, labels, chart_height(240), 230), width="content")
    st.caption(f"{VANISHING['depth']} hidden layers of {VANISHING['width']} units, plain SGD lr 0.1, batch 64, "
               f"{VANISHING['steps']} steps on {label(config.dataset)}; Kaiming initial weights from one seed.")  # fmt: skip

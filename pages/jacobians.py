"""Jacobians: every module's ∂out/∂in three ways, why backward never builds one, the whole net's Jacobian."""

import numpy as np
import streamlit as st

from app.charts.display import chart_height, show_chart, show_table
from app.charts.jacobians import (
    jacobian_frame,
    jacobian_heatmaps,
    network_heatmap,
    saliency_chart,
    singular_value_chart,
    spectrum_grid_chart,
)
from app.controls import clamp, keep, label, sidebar
from app.live import advance
from app.pickers import layer_picker, sample_picker
from app.session import data_key, dataset_or_stop, show_weights_note, trainer_or_stop
from core.analysis.jacobians.modules import (
    MAX_ENTRIES,
    JacobianError,
    batchnorm_jacobians,
    feature_major,
    layer_jacobians,
)
from core.analysis.jacobians.network import (
    network_jacobian,
    saliency_frame,
    singular_value_frame,
    spectrum_by_architecture,
)
from core.analysis.text.jacobian_equations import module_latex
from core.analysis.text.notation import INDEX_CONVENTION
from core.analysis.traces.backward_trace import MAX_CELLS
from core.data.images import zoom
from core.nn.mlp import MLP
from core.training.batches import draw_batch
from core.training.trainer import Trainer

NAMES = {"linear": "Linear", "batch_norm": "Batch norm (eval mode)", "softmax": "Softmax"}
OUTPUTS = {"logits": "logits z⁽ᴸ⁾", "probs": "probabilities p"}
SPECTRUM = {"activations": ("sigmoid", "tanh", "relu", "elu"), "depths": (1, 4, 8)}
AFTER_STEPS = 300  # the short run from the same initial weights, when this run has not trained yet


def difference(v):
    """A largest |difference| as a student reads it: 0 when the two agree exactly, else two digits."""
    return "0" if v == 0 else f"{v:.1e}"


def show_differences(mj, box):
    """The table of the largest |J_a − J_b| of each pair of methods, for module ``mj``."""
    table = mj.differences().rename(columns={"pair": "methods", "max_abs_diff": "largest |difference|"})
    show_table(table, box, formats={"largest |difference|": difference})


PLAYGROUND_RUN = "reset the run on the Playground, or lower the learning rate"


def or_stop(compute, *args, what_to_do=PLAYGROUND_RUN):
    """``compute(*args)``, or one message and ``st.stop()`` where these weights' numbers overflow (a diverged run)."""
    try:
        return compute(*args)
    except JacobianError as e:
        st.warning(
            f"**No Jacobian here:** {e}. The weights are too large for this sample's numbers to stay finite; "
            f"{what_to_do}.",
            icon=":material/blur_off:",
        )
        st.stop()


@st.cache_data(max_entries=8, show_spinner="Computing every Jacobian three ways…")
def cached_layer(weights, activation, x, layer):
    return layer_jacobians(MLP.from_weights(weights, activation), x, layer)


@st.cache_data(max_entries=8, show_spinner="Batch norm's Jacobian over a batch, three ways…")
def cached_batchnorm(weights, activation, X, layer):
    return batchnorm_jacobians(MLP.from_weights(weights, activation), X, layer)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_network(weights, activation, x, output, method="analytic"):
    return network_jacobian(MLP.from_weights(weights, activation), x, output, method)


@st.cache_data(max_entries=8, show_spinner="Singular values of 12 freshly initialized networks…")
def cached_spectra(x, n_classes, width, seed, output):
    return spectrum_by_architecture(x, n_classes, SPECTRUM["activations"], SPECTRUM["depths"], width, seed, output)


@st.cache_data(max_entries=4, show_spinner=f"Training a copy of this network for {AFTER_STEPS} steps…")
def cached_trained(key, _data, _train_config):
    per_epoch = -(-len(_data.y_train) // _train_config.batch_size)
    trainer = Trainer(_data, _train_config.replace(epochs=-(-AFTER_STEPS // per_epoch)))
    diverged = advance(trainer, steps=AFTER_STEPS, budget_s=30.0)
    return trainer.weights(), trainer.global_step, diverged


config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)

st.title("Jacobians")
show_weights_note(config, trainer)
weights, act = trainer.weights(), config.activation

pick, intro = st.columns([1, 2], gap="large")
with pick:
    sample = sample_picker(data)
L = len(config.hidden_dims) + 1
layer = layer_picker(L, "w_jac_layer", pick, "Layer l")
pick.caption(f"Following {sample.caption}.")
intro.markdown(
    "A module maps its input to its output; its **Jacobian** J holds every partial derivative, "
    "J[j, i] = ∂outⱼ/∂inᵢ: one row per output, one column per input. Each is computed three ways: the "
    "**formula** derived by hand, PyTorch **autograd** (`torch.func.jacrev`) and **finite differences** "
    "(f(x + h) − f(x − h)) / 2h, all in float64; the table beside each gives the largest difference of each pair."
)
intro.caption(INDEX_CONVENTION)

st.subheader(f"Layer {layer}, module by module")
modules = or_stop(cached_layer, weights, act, sample.x, layer)
for mj in modules:
    J = mj.jacobians["analytic"]
    name = NAMES.get(mj.kind, f"Activation: {label(mj.kind)}")
    st.markdown(f"**{name}** of layer {layer}: J is {J.shape[0]} × {J.shape[1]}")
    for line in module_latex(mj, act, config.batch_norm):
        st.latex(line)
    maps, side = st.columns([1.6, 1], gap="medium")
    frame, (r, c) = jacobian_frame(mj.jacobians)
    show_chart(
        jacobian_heatmaps(frame, f"{name}: J three ways", "input i", "output j", chart_height(150)),
        maps,
        width="content",
        name=f"jacobian-{mj.kind}",
    )
    if max(J.shape) > MAX_CELLS:
        maps.caption(
            f"{J.shape[0]} × {J.shape[1]} is more than {MAX_CELLS} × {MAX_CELLS}: each cell is a block of "
            f"{r} × {c} entries showing the one of largest |value| (hover for the indices)."
        )
    show_differences(mj, side)
    side.caption(
        f"Backward never builds J: it computes dout · J directly. For a random dout, dout · J and this module's "
        f"`backward(dout)` differ by at most **{difference(mj.vjp.max_abs_diff)}**; J has {J.size:,} entries, the "
        f"product only {J.shape[1]:,}."
    )

if config.batch_norm and layer < L:
    st.subheader("Batch norm in training mode: every output depends on every sample")
    most = min(8, len(data.y_train), int(np.sqrt(MAX_ENTRIES)) // config.width)  # J has (N·H)² entries
    clamp("w_jac_batch", 2, max(2, most), 4)
    maps, side = st.columns([1.6, 1], gap="medium")
    n = side.number_input(f"Samples N in the batch (2 to {most})", 2, max(2, most), step=1, key="w_jac_batch")
    batch = draw_batch(len(data.y_train), n, config.seed, cap=8)
    bn = or_stop(cached_batchnorm, weights, act, data.X_train[batch.indices], layer)
    N, H = bn.x.shape
    for line in module_latex(bn, act, True):
        maps.latex(line)
    frame, _ = jacobian_frame({method: feature_major(J, N) for method, J in bn.jacobians.items()})
    show_chart(
        jacobian_heatmaps(
            frame, "Batch norm over a batch: J three ways", "input (i, m)", "output (j, n)", chart_height(150)
        ),
        maps,
        width="content",
        name="jacobian-batch-norm-train",
    )
    show_differences(bn, side)
    side.caption(
        f"{N} training samples (a seeded draw) of {H} features: J is ({N}·{H}) × ({N}·{H}). Rows and columns "
        f"are ordered feature by feature, so each {N} × {N} block on the diagonal is one feature across the "
        "batch: sample m's input moves sample n's output through the batch mean and variance. Features never "
        "mix (0 elsewhere); in eval mode only the diagonal is left. dout · J against `backward(dout)` for the "
        f"batch: largest difference {difference(bn.vjp.max_abs_diff)}."
    )

st.subheader("The whole network: ∂output/∂x at the sample")
keep("w_jac_output", "logits")
output = st.radio(
    "Differentiate",
    list(OUTPUTS),
    format_func=OUTPUTS.get,
    horizontal=True,
    key="w_jac_output",
    help="Saliency maps use the logits (the class scores before softmax).",
)
net = or_stop(cached_network, weights, act, sample.x, output)
torch_J = or_stop(cached_network, weights, act, sample.x, output, "autograd").jacobian
n_factors = len(net.factors)
st.latex(
    (
        r"J = \frac{\partial p}{\partial x} = J_{\mathrm{softmax}}\,"
        if output == "probs"
        else r"J = \frac{\partial z^{(L)}}{\partial x} = "
    )
    + rf"J^{{({L})}} \cdots J^{{(1)}} \in \mathbb{{R}}^{{{net.jacobian.shape[0]}\times{net.jacobian.shape[1]}}}"
)
heat, spectrum = st.columns([3, 2], gap="medium")
input_title = "pixel i" if data.image_shape is not None else "input feature i"
show_chart(
    network_heatmap(net.jacobian, data.class_names, input_title, chart_height(260)), heat, name="network-jacobian"
)
heat.caption(
    f"The product of the {n_factors} module Jacobians (chain rule); autograd of the whole PyTorch twin differs "
    f"from it by at most {np.max(np.abs(net.jacobian - torch_J)):.1e}."
)
sv = singular_value_frame({"this network": net})
show_chart(
    singular_value_chart(
        sv, "label", "Its singular values", f"{len(net.singular_values)} of them, log scale", chart_height(260)
    ),
    spectrum,
    name="singular-values",
)
s = net.singular_values
spectrum.caption(
    f"σ₀ = {s[0]:.3g}, smallest {s[-1]:.3g}: a small input step along the top singular direction moves "
    "the output the most, along the last one the least."
    + (" With probabilities one σ is always 0: they sum to 1." if output == "probs" else "")
)

if data.image_shape is not None:
    img, maps = st.columns([1, 5], gap="medium")
    img.image(zoom(data.image(sample.x), 160), caption="the sample")
    show_chart(
        saliency_chart(saliency_frame(net.jacobian, data.image_shape, data.class_names)),
        maps,
        width="content",
        name="saliency",
    )
    maps.caption(
        "Red pixels raise the class's " + ("logit" if output == "logits" else "probability") + " when they get "
        "brighter, blue ones lower it."
        + (" For colour images each pixel shows its strongest channel." if len(data.image_shape) == 3 else "")
    )

st.subheader("Well-conditioned or collapsing: activation and depth")
spectra = cached_spectra(sample.x, data.n_classes, config.width, config.seed, output)
activations = {a: label(a) for a in SPECTRUM["activations"]}
show_chart(spectrum_grid_chart(spectra, activations, chart_height(220), 260), width="content", name="spectra-by-depth")
deep = spectra[spectra["depth"] == max(SPECTRUM["depths"])].groupby("activation")["singular_value"].max()
st.caption(
    f"{config.width} units per layer, Kaiming weights from seed {config.seed}, this sample. With "
    f"{max(SPECTRUM['depths'])} hidden layers the largest σ is {deep['sigmoid']:.1e} with sigmoid "
    f"(σ′ ≤ ¼ at every layer: the Jacobian collapses, and so does the gradient) but {deep['elu']:.2g} with ELU."
)

st.subheader("Before and after training")
what_to_do = PLAYGROUND_RUN
if trainer.global_step:
    after, steps, where = weights, trainer.global_step, "this run"
else:
    after, steps, diverged = cached_trained(
        (data_key(config), repr(config.train_config())), data, config.train_config()
    )
    where = "a copy of this run (this run has not trained yet)"
    what_to_do = f"lower the learning rate (now {config.lr:g}) in the sidebar"
    if diverged:
        st.warning(
            f"**The copy trained for this comparison diverged** at step {steps + 1:,} of {AFTER_STEPS} (its "
            f"loss became NaN or ∞; this run itself has not trained): what follows uses its weights after the "
            f"{steps:,} steps before it. Lower the learning rate (now {config.lr:g}) in the sidebar for a fair "
            "comparison.",
            icon=":material/warning:",
        )
before = cached_network(trainer.init_weights, act, sample.x, output)
trained = or_stop(cached_network, after, act, sample.x, output, what_to_do=what_to_do)
frame = singular_value_frame({"initial weights": before, f"after {steps:,} steps": trained})
show_chart(
    singular_value_chart(
        frame,
        "label",
        "Singular values before and after training",
        f"{where}, same initial weights, this sample",
        chart_height(260),
    ),
    name="spectra-training",
)
s0, s1 = before.singular_values[0], trained.singular_values[0]
st.caption(
    f"σ₀ goes from {s0:.3g} to {s1:.3g}: after training the output reacts {'more' if s1 > s0 else 'less'} "
    "strongly to a small change of this input along its most sensitive direction."
)

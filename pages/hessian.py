"""Hessian spectrum: the curvature of the current network's loss, from Hessian-vector products only."""

import numpy as np
import streamlit as st

from app.charts.display import chart_height, show_chart
from app.charts.hessian import (
    density_chart,
    loss_curves_chart,
    loss_surface_chart,
    negative_fraction_chart,
    spectrum_training_chart,
    top_eigenvalues_chart,
)
from app.controls import keep, sidebar
from app.session import data_key, dataset_or_stop, show_weights_note, trainer_or_stop
from core.analysis.curvature.hessian import (
    MAX_PARAMETERS,
    MAX_SAMPLES,
    ZERO,
    HessianError,
    LossHessian,
    hutchinson_trace,
    most_negative_eigenvalue,
    spectral_density,
    top_eigenvalues,
)
from core.analysis.curvature.landscape import (
    filter_normalized_direction,
    loss_along,
    loss_plane,
    spectrum_over_training,
)
from core.training.config import n_parameters

PLANES = {"random": "two filter-normalized random directions", "eigen": "the top two eigenvectors"}
TRAINING = {"n_samples": 256, "max_epochs": 30}  # the spectrum-over-training run


@st.cache_data(max_entries=8, show_spinner="Lanczos on Hessian-vector products…")
def cached_spectrum(weights, activation, X, y, k, probes):
    H = LossHessian(weights, activation, X, y)
    top = top_eigenvalues(H, k, tol=1e-6)
    return {
        "loss": H.loss(),
        "size": H.size,
        "top": top.values,
        "vectors": top.vectors[:, : min(k, 3)],
        "negative": most_negative_eigenvalue(H, tol=1e-4).values[0],
        "trace": hutchinson_trace(H, probes),
        "density": spectral_density(H),
        "n_hvp": H.n_hvp,
    }


@st.cache_data(max_entries=8, show_spinner="Evaluating the loss around the weights…")
def cached_landscape(weights, activation, X, y, vectors, top, plane):
    H = LossHessian(weights, activation, X, y)
    reach = 2 * np.sqrt(2 / top[0]) if top[0] > 0 else 1.0  # along u₁ the quadratic model rises by 4 at the ends
    eigen = {f"eigenvector {i + 1} (λ = {top[i]:.3g})": vectors[:, i] for i in range(vectors.shape[1])}
    random = {f"random direction {s + 1}": H.flatten(filter_normalized_direction(weights, seed=s)) for s in range(3)}
    if plane == "eigen":
        d1, d2, edge = vectors[:, 0], vectors[:, 1], reach
    else:
        d1, d2, edge = random["random direction 1"], random["random direction 2"], 1.0
    return (
        loss_along(H, eigen, np.linspace(-reach, reach, 41)),
        loss_along(H, random, np.linspace(-1, 1, 41)),
        loss_plane(H, d1, d2, np.linspace(-edge, edge, 25)),
        reach,
    )


@st.cache_data(max_entries=4, show_spinner=False)
def cached_training_spectrum(run_key, _data, _train_config):
    bar = st.progress(0.0, text="Training and measuring the spectrum…")
    update = lambda done, total: bar.progress(done / total, text=f"Measured {done} of {total} times")  # noqa: E731
    history = spectrum_over_training(_data, _train_config, n_samples=TRAINING["n_samples"], progress=update)
    bar.empty()
    return history


config = sidebar()
data = dataset_or_stop(config)
trainer = trainer_or_stop(config, data)

st.title("Hessian spectrum")
show_weights_note(config, trainer, "on the Playground")
n_train = len(data.y_train)
B_max = min(MAX_SAMPLES, n_train)
keep("w_hes_batch", min(512, n_train))
st.session_state.w_hes_batch = min(max(int(st.session_state.w_hes_batch), 2), B_max)  # another data set may be smaller
keep("w_hes_k", 5)
keep("w_hes_probes", 100)
c1, c2, c3 = st.columns(3)
B = c1.number_input(
    f"Samples in the Hessian's batch (2 to {B_max:,})",
    2,
    B_max,
    step=32,
    key="w_hes_batch",
    help="A seeded draw of training samples; L is their mean cross-entropy.",
)
k = c2.number_input("Top eigenvalues k", 1, 10, step=1, key="w_hes_k")
probes = c3.number_input(
    "Hutchinson probes",
    10,
    500,
    step=10,
    key="w_hes_probes",
    help="Random ±1 vectors z; the trace is the mean of zᵀHz.",
)

P = n_parameters(data.n_features, config.hidden_dims, data.n_classes, config.batch_norm)
if P > MAX_PARAMETERS:
    st.info(
        f"This network has {P:,} parameters; the Hessian view handles up to {MAX_PARAMETERS:,}. Use fewer or "
        "narrower hidden layers in the sidebar.",
        icon=":material/block:",
    )
    st.stop()
idx = np.sort(np.random.default_rng(config.seed).choice(n_train, int(B), replace=False))
X, y = data.X_train[idx], data.y_train[idx]
weights = trainer.weights()
try:
    spec = cached_spectrum(weights, config.activation, X, y, min(int(k), P - 1), int(probes))
except HessianError as e:
    st.error(f"**The Hessian cannot be computed here.** {e}", icon=":material/warning:")
    st.stop()

st.subheader("Curvature of the loss at the current weights")
trace, dens = spec["trace"], spec["density"]
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Largest eigenvalue λ₁", f"{spec['top'][0]:.4g}", help="The sharpest curvature: the loss rises as ½λ₁α².")
m2.metric(
    "Most negative eigenvalue", f"{spec['negative']:.4g}", help="Below 0: a direction in which the loss curves down."
)
m3.metric(
    "Trace tr H",
    f"{trace.value:.4g} ± {trace.stderr:.2g}",
    help=f"Hutchinson, {len(trace.samples)} probes; ± one standard error.",
)
m4.metric(
    "Clearly negative",
    f"{dens.fraction_negative:.1%}",
    help=f"Share of eigenvalues below −{ZERO:.0%} of the "
    "largest |λ|, read from the density; closer to 0 Lanczos cannot tell the sign.",
)
m5.metric(
    "H v products", f"{spec['n_hvp']:,}", help=f"The Hessian is {spec['size']:,} × {spec['size']:,}; it is never built."
)
left, right = st.columns([2, 3])
show_chart(top_eigenvalues_chart(spec["top"], chart_height(280)), left)
show_chart(density_chart(dens.frame, chart_height(280)), right)
st.caption(
    f"H = ∇²L for the mean cross-entropy L = {spec['loss']:.4g} of {len(y):,} training samples (a seeded draw), "
    f"{spec['size']:,} parameters"
    + (", batch norm with the batch's own statistics" if config.batch_norm else "")
    + ". Each H v is one extra backward pass through the gradient's graph (double backward)."
)

st.subheader("The loss around the weights")
keep("w_hes_plane", "random")
plane = st.radio("Plane of the surface", list(PLANES), format_func=PLANES.get, horizontal=True, key="w_hes_plane")
if spec["vectors"].shape[1] < 2 and plane == "eigen":
    st.info("Set k to 2 or more for the plane of the top two eigenvectors.", icon=":material/info:")
    plane = "random"
along_eigen, along_random, surface, reach = cached_landscape(
    weights, config.activation, X, y, spec["vectors"], spec["top"], plane
)
left, right = st.columns(2)
show_chart(
    loss_curves_chart(along_eigen, "Along the top eigenvectors u", "step α along u (‖u‖ = 1)", chart_height(300)), left
)
show_chart(
    loss_curves_chart(
        along_random,
        "Along filter-normalized random directions d",
        "step α along d (α = 1: each unit's weights move by their own length)",
        chart_height(300),
    ),
    right,
)
titles = ("step α along u₁", "step β along u₂") if plane == "eigen" else ("step α along d₁", "step β along d₂")
show_chart(loss_surface_chart(surface, f"Loss over {PLANES[plane]}", titles, chart_height(380)))
st.caption(
    f"Eigenvector steps reach ±{reach:.3g}, where the quadratic model along u₁ rises by 4. Random directions "
    "follow Li et al. (2018): each row of each weight matrix is rescaled to the length of the same row of the "
    "weights; biases and batch norm's γ and β are not moved."
)

st.subheader("The spectrum during training")
keep("w_hes_epochs", 10)
epochs = st.number_input("Epochs of the run", 1, TRAINING["max_epochs"], step=1, key="w_hes_epochs")
st.markdown(
    f"A separate run of this network (same initial weights, optimizer and batch order as the Playground) for "
    f"{epochs} epochs, measuring after each one, on {TRAINING['n_samples']} fixed training samples."
)
if st.button("Train and measure the spectrum", key="w_hes_train", type="primary"):
    st.session_state.w_hes_run = True
history = None
if st.session_state.get("w_hes_run"):
    train_config = config.train_config().replace(epochs=int(epochs), track_grad_norms=False)
    try:
        history = cached_training_spectrum((data_key(config), repr(train_config)), data, train_config)
    except HessianError as e:
        st.error(f"**The spectrum cannot be measured on this run.** {e}", icon=":material/warning:")
if history is not None:
    last_epoch = int(history.epoch.max())
    if last_epoch < epochs:
        st.warning(
            f"This run diverged in epoch {last_epoch + 1} (its loss or Hessian became NaN or ∞): the charts "
            f"stop at epoch {last_epoch}. Lower the learning rate in the sidebar and train again.",
            icon=":material/warning:",
        )
    left, right = st.columns(2)
    show_chart(spectrum_training_chart(history, chart_height(300)), left)
    show_chart(negative_fraction_chart(history, ZERO, chart_height(300)), right)
    last = history[history.epoch == last_epoch].set_index("quantity")["value"]
    st.caption(
        f"After epoch {last_epoch}: λ₁ = {last['top eigenvalue']:.4g}, most negative "
        f"{last['most negative eigenvalue']:.4g}, {last['fraction negative']:.1%} of the eigenvalues clearly below 0."
    )

st.markdown(
    "**Reading it.** The Hessian H holds the second derivatives of the loss: along a unit direction u the loss bends "
    "as ½ uᵀHu α², so an eigenvector's eigenvalue is the curvature along it. A minimum has every eigenvalue ≥ 0; a "
    "negative one means a saddle, a way down. Lanczos finds the extreme eigenvalues from a few dozen H v products; "
    "Hutchinson's estimator averages zᵀHz over random ±1 vectors for the trace; stochastic Lanczos quadrature turns "
    "a few Lanczos runs into the density. Its resolution near 0 is coarse: many tiny eigenvalues blur into one peak "
    f"there, so the share below 0 counts only those below −{ZERO:.0%} of the largest |λ|."
)

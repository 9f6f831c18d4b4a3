"""Batch norm: the sidebar's network trained without and with it, from the same weights and batches."""

from dataclasses import replace

import streamlit as st

from app.charts.batchnorm import convergence_chart, health_chart, histogram_chart, lr_chart
from app.charts.display import chart_height, presentation_mode, show_chart
from app.controls import clamp, config_summary, keep, label, sidebar
from app.pickers import unit_picker
from app.progress import progress_bar
from app.session import data_key, dataset_or_stop
from core.analysis.batchnorm.experiments import COURSE_RECIPE, LR_GRID, course_experiment, lr_sensitivity, sweep_summary
from core.analysis.batchnorm.layer import batch_dependence, bn_parameter_count, gamma_beta_sums
from core.analysis.batchnorm.study import (
    MAX_STUDY_EPOCHS,
    RUNS,
    StudyError,
    health_summary,
    paired_configs,
    paired_runs,
    start_difference,
)
from core.analysis.text.batchnorm_equations import gamma_beta_latex
from core.analysis.text.notation import INDEX_CONVENTION, sup
from core.training.batches import draw_batch
from core.training.config import ConfigError

MAX_TRAIN = 5_000  # training samples the comparisons use (MNIST and CIFAR-10: their first 5,000)
MAX_BATCH = 256  # samples in the γ/β sums at most
SHOWN_UNITS = 8  # units in the train-vs-eval table
WITHOUT, WITH = RUNS


@st.cache_data(max_entries=8, show_spinner=False)
def cached_pair(key, _data, train_config):
    with progress_bar("Training without and with batch norm…", "epochs") as progress:
        return paired_runs(_data, train_config, max_train=MAX_TRAIN, progress=progress)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_sweep(key, _data, train_config):
    with progress_bar("Sweeping the learning rate…", "epochs") as progress:
        return lr_sensitivity(_data, train_config, LR_GRID, train_config.epochs, MAX_TRAIN, progress)


@st.cache_data(max_entries=4, show_spinner=False)
def cached_course(key, _data):
    with progress_bar("Training the course network without and with batch norm…", "epochs") as progress:
        return course_experiment(_data, progress=progress)


@st.cache_data(max_entries=16, show_spinner="Running PyTorch autograd on the same weights…")
def cached_sums(weights, activation, X, y, layer, unit):
    return gamma_beta_sums(weights, activation, X, y, layer, unit)


def spread(moments, run, epoch):
    """'mean ± std' of a run's histogram at an epoch, or a dash when the run diverged before it."""
    row = moments[(moments.run == run) & (moments.epoch == epoch)]
    return f"{row['mean'].iloc[0]:.3g} ± {row['std'].iloc[0]:.3g}" if len(row) else "— (diverged before it)"


config = sidebar()
data = dataset_or_stop(config)
st.title("Batch norm")
st.caption(
    f"{config_summary(config)}  \nThe same network trained twice, without and with batch norm between each "
    "hidden Linear and its activation (whatever the sidebar's batch-norm switch says): same initial weights W, "
    "same mini-batches."
)
for key, value in {
    "w_bn_epochs": 10,
    "w_bn_quantity": "pre-activation",
    "w_bn_shared": True,
    "w_bn_sweep_epochs": 5,
}.items():
    keep(key, value)
if config.depth == 0:
    st.info(
        "Batch norm sits between a hidden Linear and its activation: add a hidden layer in the sidebar.",
        icon=":material/layers:",
    )
    st.stop()
c1, c2 = st.columns([1, 3])
epochs = c1.number_input("Epochs per run", 1, MAX_STUDY_EPOCHS, step=1, key="w_bn_epochs")
train_config = replace(config.train_config(), epochs=int(epochs), track_grad_norms=False)
try:
    paired_configs(train_config)
except (StudyError, ConfigError) as e:
    st.error(f"**This comparison cannot run.** {e}", icon=":material/block:")
    st.stop()
cut = f" (its first {MAX_TRAIN:,} training samples)" if len(data.y_train) > MAX_TRAIN else ""
c2.caption(
    f"Trains both runs for {epochs} epochs on {label(config.dataset)}{cut}; the learning rate, optimizer, "
    "batch size and seed come from the sidebar. Measured on the validation set in eval mode."
)
pair = cached_pair(data_key(config), data, train_config)
for run, message in pair.diverged.items():
    if message:
        st.warning(f"**{run}:** {message} Its charts stop there.", icon=":material/trending_down:")
dW, db = start_difference(pair.initial)
st.caption(
    f"Both runs start from the same W (largest difference {dW:g}); without batch norm each hidden layer "
    f"starts with biases b = {db:g}, with it the bias is left out and β = 0, γ = 1 take its place."
)

st.subheader("Activation histograms of every hidden layer")
c1, c2, c3 = st.columns([1.2, 1, 2])
quantity = c1.radio(
    "Values",
    ["pre-activation", "post-activation"],
    key="w_bn_quantity",
    horizontal=True,
    format_func={"pre-activation": "into f (z or BN's output)", "post-activation": "out of f"}.get,
)
if st.session_state.get("w_bn_epoch") not in pair.epochs:
    st.session_state.w_bn_epoch = pair.epochs[-1]
shared = c2.toggle(
    "Same x axis for both runs",
    key="w_bn_shared",
    help="Off: each run gets its own x axis, so the batch-norm run's shape is readable too.",
)
shown = c3.select_slider("Epoch", pair.epochs, key="w_bn_epoch")
counts = pair.histograms if shared else pair.histograms_per_run
cell_width = 470 if presentation_mode() else 400  # px per histogram: two runs side by side fill the page
show_chart(histogram_chart(counts, shown, quantity, chart_height(110), cell_width), name="bn-histograms")
m = pair.moments[(pair.moments.layer == config.depth) & (pair.moments.quantity == quantity)]
st.markdown(
    f"Hidden layer {config.depth}, {'into' if quantity == 'pre-activation' else 'out of'} f, mean ± std: "
    f"{spread(m, WITH, pair.epochs[0])} in both runs at epoch {pair.epochs[0]}; at epoch {shown} "
    f"**{spread(m, WITHOUT, shown)} without batch norm** and **{spread(m, WITH, shown)} with it**. Without batch "
    "norm each layer's input drifts as the layers before it learn; batch norm re-centres and re-scales it at every "
    "step, and γ, β move it only as far as the loss asks."
)

st.subheader("Dead and saturated units")
if pair.health.empty:
    st.info(
        f"{label(config.activation)} units neither die nor saturate: pick ReLU, ELU, tanh or sigmoid in the sidebar.",
        icon=":material/info:",
    )
else:
    show_chart(health_chart(pair.health, chart_height(260)), name="bn-dead-units")
    top = health_summary(pair.health).set_index(["measure", "run"])["fraction"]
    shares = "; ".join(
        f"{measure} **{top[measure, WITHOUT]:.0%} without batch norm, {top[measure, WITH]:.0%} with it**"
        for measure in top.index.unique("measure")
    )
    st.markdown(
        f"At the end, the largest share in any hidden layer: {shares}. A ReLU unit is dead when its input is ≤ 0 for "
        "every validation sample: it outputs 0 and gets no gradient, so it never comes back. A tanh or sigmoid unit "
        "is saturated when |tanh| > 0.99 (sigmoid < 0.01 or > 0.99) for every sample, where f′ < 0.02; saturated "
        "values count single (sample, unit) pairs. Batch norm keeps each unit's input centred, so part of every "
        "batch falls on the live side."
    )

st.subheader("Convergence side by side")
show_chart(convergence_chart(pair.history, chart_height(280)), name="bn-convergence")
acc = pair.history[(pair.history.metric == "accuracy") & (pair.history.split == "validation")]
final_acc = {run: f"{v:.3f}" for run, v in acc.groupby("run")["value"].last().items()}
st.markdown(
    f"Final validation accuracy: **{final_acc.get(WITHOUT, 'none (diverged in epoch 1)')} without batch norm, "
    f"{final_acc.get(WITH, 'none (diverged in epoch 1)')} with it**."
)

st.subheader("Learning-rate sensitivity")
c1, c2 = st.columns([1, 3])
sweep_epochs = c1.number_input("Epochs per run", 1, MAX_STUDY_EPOCHS, step=1, key="w_bn_sweep_epochs")
c2.markdown(
    f"Trains the sidebar's network at {len(LR_GRID)} learning rates from {LR_GRID[0]:g} to {LR_GRID[-1]:g}, "
    f"without and with batch norm: {2 * len(LR_GRID)} runs of {sweep_epochs} epochs."
)
if c2.button("Run the sweep", key="w_bn_sweep", type="primary"):
    st.session_state.w_bn_sweep_on = True
if st.session_state.get("w_bn_sweep_on"):
    sweep = cached_sweep(data_key(config), data, replace(train_config, epochs=int(sweep_epochs)))
    show_chart(lr_chart(sweep, data.n_classes, chart_height(300)), name="bn-lr-sensitivity")
    summary = sweep_summary(sweep).set_index("run")
    st.markdown(
        "\n".join(
            f"- **{r.Index}**: best validation accuracy {r.best_accuracy:.3f} at lr {r.best_lr:g}; within 90 % of the "
            f"best of both runs at {r.good_rates} of {len(LR_GRID)} rates; {r.diverged} diverged"
            for r in summary.itertuples()
        )
    )
    st.caption(
        "A run that diverged counts with its last finite validation accuracy (chance if it never finished "
        "an epoch) and is marked with a cross."
    )

st.subheader("The assignment's experiment")
recipe = COURSE_RECIPE
st.markdown(
    f"The course network, {len(recipe.hidden_dims)} hidden layer of {recipe.hidden_dims[0]} "
    f"{label(recipe.activation)} units, {label(recipe.optimizer)} lr {recipe.lr:g}, batch {recipe.batch_size}, "
    f"{recipe.epochs} epochs, seed {recipe.seed}, trained on {label(config.dataset)} (all "
    f"{len(data.y_train):,} training samples) without and with batch norm after the hidden layer. The course "
    "reports about 47–48 % test accuracy on CIFAR-10 without batch norm."
)
if len(data.y_train) > 10_000:  # MNIST, CIFAR-10
    st.caption(
        f"{2 * recipe.epochs} epochs over {len(data.y_train):,} images: minutes on a laptop CPU (the bar shows how "
        "far)."
    )
if st.button("Run the assignment's experiment", key="w_bn_course", type="primary"):
    st.session_state.w_bn_course_on = True
if st.session_state.get("w_bn_course_on"):
    course = cached_course(data_key(config), data)
    test = course.test.set_index("run")
    a, b = st.columns(2)
    for col, run in ((a, WITHOUT), (b, WITH)):
        col.metric(
            f"Test accuracy, {run}",
            f"{test.loc[run, 'test_accuracy']:.4f}",
            help=f"With the best-on-validation weights (epoch {test.loc[run, 'best_epoch']}).",
        )
    gain = test.loc[WITH, "test_accuracy"] - test.loc[WITHOUT, "test_accuracy"]
    st.markdown(
        f"With batch norm the test accuracy changes by **{100 * gain:+.2f} percentage points** "
        f"({test.loc[WITHOUT, 'test_accuracy']:.4f} → {test.loc[WITH, 'test_accuracy']:.4f})."
    )
    show_chart(convergence_chart(course.history, chart_height(260)), name="bn-course-convergence")

st.subheader("What batch norm adds to the parameter count")
count = bn_parameter_count(data.n_features, config.hidden_dims, data.n_classes)
titles = {
    "units": "units",
    "weights": "weights",
    "biases_without": "b (without BN)",
    "trained_without": "trained without BN",
    "biases_with": "b (with BN)",
    "gamma": "γ",
    "beta": "β",
    "trained_with": "trained with BN",
    "buffers": "running mean + var (buffers)",
    "added": "added by BN",
}
st.dataframe(
    count,
    hide_index=True,
    width="stretch",
    column_config={
        c: st.column_config.NumberColumn(title, format="localized")
        for c, title in titles.items()  # 7,690, as in the text
    },
)
total = count.iloc[-1]
st.markdown(
    f"This network trains **{total.trained_without:,}** numbers without batch norm and **{total.trained_with:,}** "
    f"with it. Each hidden unit trades its bias b for γ and β (+1 per unit, +{total.added:,} in all): batch norm "
    "subtracts the batch mean, so a bias before it could not change anything, and β takes its place. The running "
    f"mean and variance ({total.buffers:,} numbers) are buffers, not parameters: forward passes in training mode "
    "update them, the gradient never does. The output layer has no batch norm and keeps its bias."
)

st.subheader("∂L/∂γ and ∂L/∂β for one unit")
weights = pair.final[WITH]
c1, c2, c3 = st.columns(3)
clamp("w_bn_layer", 1, config.depth)
layer = c1.selectbox("Hidden layer", range(1, config.depth + 1), key="w_bn_layer", format_func=lambda l: f"hidden {l}")
unit = unit_picker(config.width, "w_bn_unit", c2, "Unit j")
keep("w_bn_draw", 0)
draw = c3.number_input("Which mini-batch (a seeded draw)", 0, 9_999, step=1, key="w_bn_draw")
batch = draw_batch(len(data.y_train), config.batch_size, config.seed, draw, cap=MAX_BATCH)
X, Y = data.X_train[batch.indices], data.y_train[batch.indices]
sums = cached_sums(weights, config.activation, X, Y, layer, unit)
for line in gamma_beta_latex(sums):
    st.latex(line)
st.dataframe(
    [
        {
            "gradient": "∂L/∂β",
            "sum written out": sums.dbeta_sum,
            "backward (NumPy)": sums.dbeta_backward,
            "autograd (PyTorch)": sums.dbeta_autograd,
        },
        {
            "gradient": "∂L/∂γ",
            "sum written out": sums.dgamma_sum,
            "backward (NumPy)": sums.dgamma_backward,
            "autograd (PyTorch)": sums.dgamma_autograd,
        },
    ],
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(c, format="%.10g")
        for c in ("sum written out", "backward (NumPy)", "autograd (PyTorch)")
    },
)
note = batch.note(len(data.y_train))
st.caption(
    f"yₙ = γ x̂ₙ + β is batch norm's output for sample n of a training-mode batch of {batch.size} "
    f"(draw #{draw}{', ' + note if note else ''}), with the with-BN run's weights after its last epoch. "
    f"∂y/∂β = 1 and ∂y/∂γ = x̂, and γ, β are shared by the whole batch, so their gradients sum over it. "
    f"{INDEX_CONVENTION}"
)

st.subheader("Training mode vs eval mode for one sample")
clamp("w_bn_sample", 0, len(data.y_train) - 1)
sample = st.number_input(
    f"Training sample (0 to {len(data.y_train) - 1})", 0, len(data.y_train) - 1, step=1, key="w_bn_sample"
)
size = max(2, min(config.batch_size, 64))
A, B = (draw_batch(len(data.y_train), size - 1, config.seed, d).indices for d in (1000, 1001))
dep = batch_dependence(weights, config.activation, data.X_train, sample, A, B, layer)
table = dep.table(SHOWN_UNITS)
st.dataframe(table, column_config={c: st.column_config.NumberColumn(c, format="%.6f") for c in table.columns})
st.markdown(
    f"Batch norm's output y{sup(layer)} of training sample {sample} inside two different batches of {size} samples "
    f"(first {min(SHOWN_UNITS, config.width)} units). In training mode it is normalized with each batch's own mean "
    f"and variance: the two outputs differ by up to **{dep.train_gap:.4g}**. In eval mode the running estimates are "
    f"used: they differ by **{dep.eval_gap:.2g}** (the same numbers, up to round-off), and equal the output of the "
    "sample alone. That is why a trained network is switched to eval mode before it predicts."
)

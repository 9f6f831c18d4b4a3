"""The batch-norm questions of the course (6–11), each answered by an experiment
(see ``core.analysis.course.questions``).

Every run without and with batch norm starts from the same weights and sees the same batches
(``core.analysis.batchnorm.study``); a batch-norm layer sits between a hidden Linear and its activation.
"""

from dataclasses import replace

import numpy as np
import pandas as pd

from core.analysis.batchnorm.experiments import COURSE_RECIPE, course_experiment
from core.analysis.batchnorm.layer import batch_dependence, bn_parameter_count, gamma_beta_sums
from core.analysis.batchnorm.study import RUNS, health_summary, paired_runs, train_to_end
from core.analysis.course.questions import Answer, CourseError, Link, data_name, pct, recipe_query, small
from core.analysis.text.batchnorm_equations import gamma_beta_latex
from core.nn.batchnorm import BatchNormModule
from core.nn.gradcheck import numerical_gradient
from core.nn.losses import softmax_cross_entropy
from core.nn.mlp import MLP
from core.threads import one_thread
from core.training.config import validate
from core.training.trainer import Trainer

WITHOUT, WITH = RUNS
BN_RECIPE = COURSE_RECIPE.replace(batch_norm=True, epochs=1, dtype="float64")  # the course net with BN, one epoch
DEEP_RELU = COURSE_RECIPE.replace(
    hidden_dims=(32,) * 6, activation="relu", lr=1.0, batch_size=32, epochs=3, dtype="float64"
)
DEEP_TANH = DEEP_RELU.replace(hidden_dims=(32,) * 3, activation="tanh")


def _bn_weights(data, config):
    """Weights (common dict form) of ``config`` with batch norm after training it on ``data``."""
    config = validate(replace(config, batch_norm=True), data.n_features, data.n_classes)
    trainer = Trainer(data, config)
    with one_thread(small(data)):
        message = train_to_end(trainer)
    if message:
        raise CourseError(message)
    return trainer.weights()


# ---- 6. ∂L/∂γ and ∂L/∂β of one unit ----


def gamma_beta_gradients(data, config=BN_RECIPE, layer=1, unit=0, batch=128, h=1e-5):
    """Q6: ∂L/∂β = Σₙ ∂L/∂yₙ and ∂L/∂γ = Σₙ ∂L/∂yₙ x̂ₙ for one unit, against autograd and finite differences.

    The course net with batch norm is trained ``config.epochs`` on ``data``; then, on its first ``batch`` training
    samples (training mode), ``gamma_beta_sums`` writes both sums out and runs PyTorch autograd, and central
    differences (step ``h``, float64) perturb γⱼ and βⱼ of the NumPy MLP.

    Returns an ``Answer`` whose frame has the running sums: n, gradient ("∂L/∂β", "∂L/∂γ"), term, running_sum.
    """
    weights = _bn_weights(data, config)
    X, y = data.X_train[:batch], data.y_train[:batch]
    with one_thread(small(data), torch=True):
        s = gamma_beta_sums(weights, config.activation, X, y, layer, unit)
    mlp = MLP.from_weights(weights, config.activation).train()
    bn = mlp.norms[layer - 1]
    loss = lambda: softmax_cross_entropy(mlp.logits(X), y)[0]  # noqa: E731  training mode: the batch's statistics
    fd = {key: float(numerical_gradient(loss, bn.params[key][unit : unit + 1], h)[0]) for key in ("weight", "bias")}
    t = s.terms
    frame = pd.concat(
        [
            pd.DataFrame({"n": t["n"], "gradient": "∂L/∂β", "term": t["dy"], "running_sum": t["dy"].cumsum()}),
            pd.DataFrame(
                {"n": t["n"], "gradient": "∂L/∂γ", "term": t["dy_x_hat"], "running_sum": t["dy_x_hat"].cumsum()}
            ),
        ],
        ignore_index=True,
    )
    figures = {
        "dbeta_sum": s.dbeta_sum,
        "dgamma_sum": s.dgamma_sum,
        "dbeta_backward": s.dbeta_backward,
        "dgamma_backward": s.dgamma_backward,
        "dbeta_autograd": s.dbeta_autograd,
        "dgamma_autograd": s.dgamma_autograd,
        "dbeta_fd": fd["bias"],
        "dgamma_fd": fd["weight"],
        "autograd_diff": max(abs(s.dbeta_sum - s.dbeta_autograd), abs(s.dgamma_sum - s.dgamma_autograd)),
        "fd_diff": max(abs(s.dbeta_sum - fd["bias"]), abs(s.dgamma_sum - fd["weight"])),
        "batch": len(y),
        "loss": s.loss,
    }
    f = figures
    answer = (
        f"Batch norm's output for unit j = {unit} of hidden layer {layer} is yₙ = γⱼ x̂ₙ + βⱼ for each sample n of the "
        f"batch. ∂y/∂β = 1 and ∂y/∂γ = x̂, and γⱼ, βⱼ are shared by all {f['batch']} samples, so their gradients are "
        f"sums over the batch: **∂L/∂β = Σₙ ∂L/∂yₙ = {f['dbeta_sum']:.10g}** and **∂L/∂γ = Σₙ ∂L/∂yₙ · x̂ₙ = "
        f"{f['dgamma_sum']:.10g}**. PyTorch autograd, from the same weights and batch, gives "
        f"{f['dbeta_autograd']:.10g} "
        f"and {f['dgamma_autograd']:.10g} (largest difference {f['autograd_diff']:.1e}); central finite differences "
        f"give {f['dbeta_fd']:.10g} and {f['dgamma_fd']:.10g} (largest difference {f['fd_diff']:.1e}, the error "
        f"of central differences with step h = {h:g})."
    )
    method = (
        f"The course network with batch norm after its hidden layer, trained {config.epochs} "
        f"epoch{'s' * (config.epochs != 1)} on "
        f"{data_name(data)}; the sums from the MLP's caches after one training-mode forward and backward on the "
        f"first {f['batch']} training samples (`gamma_beta_sums`), float64; loss on that batch "
        f"{f['loss']:.4f}."
    )
    query = recipe_query(config.replace(epochs=COURSE_RECIPE.epochs), data.name, dtype="float64")
    links = (
        Link("batch-norm", "∂L/∂γ and ∂L/∂β for any unit and batch", query),
        Link("backward", "δ through batch norm, layer by layer", query),
    )
    return Answer(6, answer, method, figures, frame, links, tuple(gamma_beta_latex(s)))


# ---- 7. what batch norm adds to a layer ----


def bn_parameters(n_inputs=64, hidden_dims=(128,), n_classes=10):
    """Q7: the parameters and buffers batch norm adds, counted on the modules themselves.

    The NumPy ``BatchNormModule`` and PyTorch's ``nn.BatchNorm1d`` of the first hidden layer, and the whole NumPy
    ``MLP`` without and with batch norm (``bn_parameter_count`` per layer). Returns an ``Answer`` whose frame has
    one row per array of hidden layer 1: network ("without BN", "with BN"), array, kind ("trained", "buffer"), count.
    """
    import torch

    H = int(hidden_dims[0])
    bn = BatchNormModule(H)
    numpy_trained = sum(p.size for p in bn.params.values())
    numpy_buffers = bn.running_mean.size + bn.running_var.size
    torch_bn = torch.nn.BatchNorm1d(H)
    torch_trained = sum(p.numel() for p in torch_bn.parameters())
    torch_buffers = {name: b.numel() for name, b in torch_bn.named_buffers()}
    without = MLP(n_inputs, hidden_dims, n_classes, rng=np.random.default_rng(0)).n_parameters()
    with_bn = MLP(n_inputs, hidden_dims, n_classes, rng=np.random.default_rng(0), batch_norm=True).n_parameters()
    count = bn_parameter_count(n_inputs, hidden_dims, n_classes).set_index("layer")
    first = count.loc["1"]
    rows = [
        (WITHOUT, "W (weights)", "trained", first["weights"]),
        (WITHOUT, "b (bias)", "trained", first["biases_without"]),
        (WITH, "W (weights)", "trained", first["weights"]),
        (WITH, "γ (scale)", "trained", first["gamma"]),
        (WITH, "β (shift)", "trained", first["beta"]),
        (WITH, "running mean", "buffer", H),
        (WITH, "running variance", "buffer", H),
    ]
    frame = pd.DataFrame(rows, columns=["network", "array", "kind", "count"]).astype({"count": "int64"})
    figures = {
        "units": H,
        "bn_trained": int(numpy_trained),
        "bn_buffers": int(numpy_buffers),
        "per_unit_trained": numpy_trained / H,
        "per_unit_buffers": numpy_buffers / H,
        "torch_trained": int(torch_trained),
        "torch_buffers": int(sum(torch_buffers.values())),
        "torch_extra_buffer": int(torch_buffers.get("num_batches_tracked", 0)),
        "net_without": int(without),
        "net_with": int(with_bn),
        "added": int(with_bn - without),
    }
    f = figures
    widths = " → ".join(str(w) for w in (n_inputs, *hidden_dims, n_classes))
    answer = (
        f"A batch-norm layer over H = {H} units trains **{f['per_unit_trained']:g} numbers per unit**, γⱼ and βⱼ: "
        f"{f['bn_trained']} parameters. It also keeps **{f['per_unit_buffers']:g} running statistics per unit**, the "
        f"running mean and variance ({f['bn_buffers']} numbers): **buffers**, updated by forward passes in training "
        "mode and used in eval mode, never changed by the gradient, but saved with the model. Counted on the whole "
        f"network ({widths}): {f['net_without']:,} trained numbers without batch norm, {f['net_with']:,} with it — "
        f"**+{f['added']}**, not +{f['bn_trained']}, because the Linear before batch norm drops its bias: batch norm "
        "subtracts the batch mean, so a bias there could not change anything, and β takes its place. PyTorch's "
        f"`BatchNorm1d({H})` has the same {f['torch_trained']} parameters and {f['torch_buffers']} buffer numbers: the "
        f"two statistics plus num_batches_tracked ({f['torch_extra_buffer']} integer, used only when momentum is None)."
    )
    method = (
        "Counted on the modules: `BatchNormModule.params` and its running estimates, `torch.nn.BatchNorm1d`'s "
        "`parameters()` and `named_buffers()`, `MLP.n_parameters()` without and with batch norm."
    )
    query = recipe_query(COURSE_RECIPE.replace(batch_norm=True), "digits", dtype="float64")
    links = (
        Link("batch-norm", "Parameter counts of any network", query),
        Link("forward", "Batch norm as a step of the forward pass", query),
    )
    return Answer(7, answer, method, figures, frame, links)


# ---- 8. batch norm at inference ----


def bn_inference(data, config=BN_RECIPE, batch_size=8, sample=0, seed=0):
    """Q8: one sample's batch-norm output inside two batches, and the whole net's predictions on the validation set
    split into batches of ``batch_size`` in two different ways, with the batch's statistics and with the running ones.

    Returns an ``Answer`` whose frame is ``batch_dependence``'s values (unit, mode, batch, value) for the 8 units whose
    training-mode outputs differ most between the two batches (the largest of them is the gap the answer states).
    """
    weights = _bn_weights(data, config)
    X = data.X_val  # (M, D)
    if not 2 <= batch_size <= len(X) // 2:
        raise CourseError(f"the batch size must be from 2 to {len(X) // 2}, got {batch_size!r}")
    rng = np.random.default_rng(seed)
    others = rng.permutation(np.delete(np.arange(len(X)), sample))
    dep = batch_dependence(
        weights, config.activation, X, sample, others[: batch_size - 1], others[batch_size - 1 : 2 * batch_size - 2]
    )
    probs = {}
    for mode in ("train", "eval"):
        for split in ("first", "second"):
            mlp = MLP.from_weights(weights, config.activation)  # a fresh copy: training mode moves its running stats
            getattr(mlp, mode)()
            order = rng.permutation(len(X))
            out = np.zeros((len(X), data.n_classes))
            for start in range(0, len(X) - batch_size + 1, batch_size):  # whole batches only
                idx = order[start : start + batch_size]
                out[idx] = mlp.forward(X[idx])
            used = np.zeros(len(X), bool)
            used[order[: len(X) - len(X) % batch_size]] = True
            probs[mode, split] = (out, used)
    figures = {"train_gap": dep.train_gap, "eval_gap": dep.eval_gap, "batch_size": batch_size}
    for mode in ("train", "eval"):
        (a, used_a), (b, used_b) = probs[mode, "first"], probs[mode, "second"]
        both = used_a & used_b
        figures[f"flips_{mode}"] = float(np.mean(a[both].argmax(1) != b[both].argmax(1)))
        figures[f"prob_diff_{mode}"] = float(np.max(np.abs(a[both] - b[both])))
    figures["compared"], figures["validation"] = int(both.sum()), len(X)
    f = figures
    answer = (
        f"In training mode batch norm normalizes each unit with the mean and variance of the batch at hand, so a "
        f"sample's output depends on who else is in its batch: validation sample {sample} in two batches of "
        f"{batch_size} gets batch-norm outputs that differ by up to **{f['train_gap']:.3g}**. Split the "
        f"{f['validation']} validation images into batches of {batch_size} in two random ways, and of the "
        f"{f['compared']} that fall in a whole batch both times **{pct(f['flips_train'])} change their predicted "
        f"class** (probabilities by up to "
        f"{f['prob_diff_train']:.3g}). In eval mode the running mean and variance, estimated during training, replace "
        f"the batch's: the same sample's outputs differ by {f['eval_gap']:.2g}, the predictions by "
        f"{f['prob_diff_eval']:.2g}, and {pct(f['flips_eval'])} change. A prediction must not depend on the other "
        "inputs that happen to share its batch (or work for a batch of one), so a trained network is switched to eval "
        "mode before it predicts."
    )
    method = (
        f"The course network with batch norm after its hidden layer, trained {config.epochs} "
        f"epoch{'s' * (config.epochs != 1)} on "
        f"{data_name(data)}; `batch_dependence` for the sample (hidden layer 1), and the NumPy MLP's forward in "
        "training and in eval mode over two seeded splits of the validation set."
    )
    query = recipe_query(config.replace(epochs=COURSE_RECIPE.epochs), data.name, dtype="float64")
    links = (
        Link("batch-norm", "Training mode vs eval mode for any sample", query),
        Link("forward", "One sample through batch norm in eval mode", query),
    )
    train = dep.values[dep.values["mode"] == "train"].pivot(index="unit", columns="batch", values="value")
    shown = (train["A"] - train["B"]).abs().nlargest(8).index  # the units where the batch matters most
    return Answer(8, answer, method, figures, dep.values[dep.values["unit"].isin(shown)], links)


# ---- 9 and 10. dead ReLUs and histograms: paired runs without and with batch norm ----


def dead_relus(data, config=DEEP_RELU, progress=None):
    """Q9: the share of dead ReLU units at a high learning rate, without and with batch norm (``paired_runs``).

    Returns an ``Answer`` whose frame is the health over training (run, epoch, layer, measure, fraction).
    """
    with one_thread(small(data)):
        pair = paired_runs(data, config, snapshots=(0, config.epochs), progress=progress)
    dead = pair.health[pair.health["measure"] == "dead units"]
    if dead.empty:
        raise CourseError(f"{config.activation} units cannot die: choose relu, leaky_relu or elu")
    top = health_summary(dead).set_index("run")
    start = dead[dead["epoch"] == 0].groupby("run")["fraction"].max()
    acc = pair.history[(pair.history.metric == "accuracy") & (pair.history.split == "validation")]
    final = acc.groupby("run")["value"].last()
    figures = {
        "dead_without": float(top.loc[WITHOUT, "fraction"]),
        "dead_with": float(top.loc[WITH, "fraction"]),
        "layer_without": int(top.loc[WITHOUT, "layer"]),
        "layer_with": int(top.loc[WITH, "layer"]),
        "start_without": float(start[WITHOUT]),
        "start_with": float(start[WITH]),
        "val_without": float(final.get(WITHOUT, np.nan)),
        "val_with": float(final.get(WITH, np.nan)),
        "epochs": config.epochs,
        "lr": config.lr,
    }
    f = figures
    H = config.hidden_dims
    answer = (
        f"A {len(H)} × {H[0]} ReLU net on {data_name(data)}, trained at learning rate {config.lr:g} (batch "
        f"{config.batch_size}) for {config.epochs} epochs, twice from the same weights: at the end "
        f"**{pct(f['dead_without'], 0)}** of "
        f"the units of its worst layer (hidden {f['layer_without']}) are dead without batch norm, against "
        f"**{pct(f['dead_with'], 0)}** with it (worst: hidden {f['layer_with']}); at the start "
        f"{pct(f['start_without'], 0)} and {pct(f['start_with'], 0)}. Validation accuracy: "
        f"{pct(f['val_without'])} without, {pct(f['val_with'])} with. A dead unit's input is ≤ 0 for every sample: it "
        "outputs 0 and gets no gradient, so no step can bring it back. A large step can push a unit's weights there "
        "for good; batch norm re-centres each unit's input on the batch mean at every step, so part of every batch "
        "stays on the live side whatever the weights did."
    )
    method = (
        "`paired_runs`: both runs from the same initial weights and mini-batches; a unit is dead when its input "
        "is ≤ 0 for every validation sample (eval mode), the figure is the largest share in any hidden layer."
    )
    links = (
        Link("batch-norm", "Dead units at this learning rate, layer by layer", recipe_query(config, data.name)),
        Link("playground", "Train it live without batch norm", recipe_query(config, data.name)),
        Link("playground", "… and with batch norm", recipe_query(config.replace(batch_norm=True), data.name)),
    )
    return Answer(9, answer, method, figures, pair.health, links)


def bn_histograms(data, config=DEEP_TANH, progress=None):
    """Q10: histograms of every hidden layer's pre- and post-activations over training, without and with batch norm.

    Returns an ``Answer`` whose frame is ``paired_runs(…).histograms`` (bin edges shared by both runs).
    """
    with one_thread(small(data)):
        pair = paired_runs(data, config, progress=progress)
    last = pair.epochs[-1]
    m = pair.moments.set_index(["run", "epoch", "layer", "quantity"])
    deepest = len(config.hidden_dims)
    std = {run: float(m.loc[(run, last, deepest, "pre-activation"), "std"]) for run in RUNS}
    mean = {run: float(m.loc[(run, last, deepest, "pre-activation"), "mean"]) for run in RUNS}
    std0 = float(m.loc[(WITHOUT, 0, deepest, "pre-activation"), "std"])
    health = health_summary(pair.health).set_index(["measure", "run"])["fraction"]
    key = "saturated values" if ("saturated values", WITHOUT) in health.index else "dead units"
    figures = {
        "std_without": std[WITHOUT],
        "std_with": std[WITH],
        "mean_without": mean[WITHOUT],
        "mean_with": mean[WITH],
        "std_start": std0,
        "measure": key,
        "unhealthy_without": float(health[key, WITHOUT]),
        "unhealthy_with": float(health[key, WITH]),
        "epoch": int(last),
        "layer": deepest,
    }
    f = figures
    H = config.hidden_dims
    answer = (
        f"A {len(H)} × {H[0]} {config.activation} net on {data_name(data)} at learning rate {config.lr:g}, trained "
        f"twice from the same weights. What the activation of its last hidden layer receives starts with standard "
        f"deviation {f['std_start']:.3g}; after {last} epochs it is **{f['mean_without']:.3g} ± {f['std_without']:.3g} "
        f"without batch norm** and **{f['mean_with']:.3g} ± {f['std_with']:.3g} with it** (mean ± std). Without batch "
        "norm each layer's input drifts and spreads as the layers before it learn, into the flat ends of the "
        f"activation: {key} **{pct(f['unhealthy_without'], 0)} without, {pct(f['unhealthy_with'], 0)} with** batch "
        "norm (the largest share in any layer). Batch norm re-centres and re-scales every unit's input at every step, "
        "and γ, β move it only as far as the loss asks, so the inputs stay where f has a slope and gradients flow."
    )
    method = (
        f"`paired_runs`: histograms on the validation set in eval mode at epochs {', '.join(map(str, pair.epochs))}, "
        "with bin edges shared by both runs; mean ± std from `moments`."
    )
    links = (
        Link("batch-norm", "Histograms of any network, epoch by epoch", recipe_query(config, data.name)),
        Link("backward", "Gradient norms per layer over training", recipe_query(config, data.name)),
    )
    return Answer(10, answer, method, figures, pair.histograms, links)


# ---- 11. the course network with batch norm ----


def course_batchnorm(data, config=COURSE_RECIPE, max_train=None, progress=None):
    """Q11: the course network retrained with batch norm after its hidden layer (``course_experiment``).

    Returns an ``Answer`` whose frame is both runs' history (run, epoch, split, metric, value).
    """
    with one_thread(small(data)):
        result = course_experiment(data, config, max_train, progress)
    test = result.test.set_index("run")
    h = result.history
    val = h[(h.metric == "accuracy") & (h.split == "validation")].pivot(index="epoch", columns="run", values="value")
    loss = h[(h.metric == "loss") & (h.split == "train")].pivot(index="epoch", columns="run", values="value")
    if val.empty or not set(RUNS) <= set(val.columns):
        raise CourseError(f"a run diverged in its first epoch: {'; '.join(m for m in test['diverged'] if m)}")
    target = float(val[WITHOUT].iloc[-1])  # the final validation accuracy without batch norm
    reached = val.index[val[WITH] >= target]
    figures = {
        "test_without": float(test.loc[WITHOUT, "test_accuracy"]),
        "test_with": float(test.loc[WITH, "test_accuracy"]),
        "val1_without": float(val[WITHOUT].iloc[0]),
        "val1_with": float(val[WITH].iloc[0]),
        "loss1_without": float(loss[WITHOUT].iloc[0]),
        "loss1_with": float(loss[WITH].iloc[0]),
        "loss_last_without": float(loss[WITHOUT].iloc[-1]),
        "loss_last_with": float(loss[WITH].iloc[-1]),
        "epochs": int(val.index[-1]),
        "epoch_reached": int(reached[0]) if len(reached) else None,
    }
    f = figures
    gain = 100 * (f["test_with"] - f["test_without"])
    reach = (
        f"reaches the final validation accuracy of the run without it ({pct(target)}) at epoch "
        f"**{f['epoch_reached']}** of {f['epochs']}"
        if f["epoch_reached"]
        else f"does not reach the final validation accuracy of the run without it ({pct(target)})"
    )
    answer = (
        f"The course network on {data_name(data)}, trained twice from the same weights and batches: test accuracy "
        f"**{pct(f['test_without'], 2)} without batch norm** and **{pct(f['test_with'], 2)} with it** "
        f"({gain:+.2f} percentage points). After epoch 1 the training loss is {f['loss1_without']:.3f} without and "
        f"{f['loss1_with']:.3f} with batch norm (validation accuracy {pct(f['val1_without'])} and "
        f"{pct(f['val1_with'])}); after epoch {f['epochs']}, {f['loss_last_without']:.3f} and "
        f"{f['loss_last_with']:.3f}. The run with batch norm {reach}."
    )
    if data.name != "cifar10":
        answer += " The course asks this on CIFAR-10; choose it in the sidebar where its files are present."
    n = len(data.y_train) if max_train is None else min(max_train, len(data.y_train))
    method = (
        f"`course_experiment`: {', '.join(str(w) for w in config.hidden_dims)} {config.activation.upper()} units, "
        f"SGD lr {config.lr:g}, batch {config.batch_size}, {config.epochs} epochs, seed {config.seed}, "
        f"{config.dtype}, on {n:,} training images; test accuracy with each run's best-on-validation weights."
    )
    query = recipe_query(config, data.name)
    links = (
        Link("batch-norm", "The assignment's experiment on the Batch norm page", query),
        Link("playground", "Train the course network with batch norm", recipe_query(config, data.name, batch_norm="1")),
    )
    return Answer(11, answer, method, figures, h, links)

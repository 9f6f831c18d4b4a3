"""The batch-norm studies: paired runs from one start, dead and saturated units, histograms with shared edges,
learning-rate sweeps, the course's experiment, and one batch-norm layer's parameters, γ/β sums and modes."""

from dataclasses import replace
from functools import cache

import numpy as np
import pandas as pd
import pytest

from core.analysis.batchnorm.experiments import (
    COURSE_RECIPE,
    MAX_RATES,
    course_experiment,
    lr_sensitivity,
    sweep_summary,
)
from core.analysis.batchnorm.layer import (
    LayerChoiceError,
    batch_dependence,
    bn_parameter_count,
    gamma_beta_sums,
)
from core.analysis.batchnorm.study import (
    RUNS,
    StudyError,
    health_summary,
    histograms,
    layer_values,
    moments,
    paired_configs,
    paired_runs,
    start_difference,
    unit_health,
)
from core.analysis.text.batchnorm_equations import gamma_beta_latex
from core.analysis.text.notation import tex_number
from core.data import load_dataset
from core.nn.mlp import MLP
from core.training.config import TrainConfig, n_parameters
from core.training.trainer import Trainer

WITHOUT, WITH = RUNS
DEEP_RELU = TrainConfig(
    hidden_dims=(32,) * 6, activation="relu", lr=1.0, batch_size=32, epochs=5, seed=42, dtype="float64"
)
SMALL = TrainConfig(hidden_dims=(16, 16), activation="tanh", lr=0.3, batch_size=32, epochs=2, seed=3, dtype="float64")


@cache
def digits():
    return load_dataset("digits")


@cache
def deep_relu_pair():
    return paired_runs(digits(), DEEP_RELU)


@cache
def small_pair():
    return paired_runs(digits(), SMALL, max_train=300)


def test_both_runs_start_from_the_same_weights_and_batches():
    pair = small_pair()
    a, b = pair.initial[WITHOUT], pair.initial[WITH]
    for l in (1, 2, 3):
        assert np.array_equal(a[f"W{l}"], b[f"W{l}"])
    assert start_difference(pair.initial) == (0.0, 0.0)
    assert "b1" in a and "b1" not in b and "b3" in b  # the output layer keeps its bias
    assert (b["gamma1"] == 1).all() and (b["beta2"] == 0).all()
    trainers = [Trainer(digits(), c) for c in paired_configs(SMALL)]
    for t in trainers:
        t.step()
    assert np.array_equal(trainers[0].order, trainers[1].order)  # the same first epoch's batch order
    assert pair.configs[WITH].batch_norm and not pair.configs[WITHOUT].batch_norm


def test_dead_relus_without_batch_norm_at_a_high_learning_rate():
    pair = deep_relu_pair()
    top = health_summary(pair.health).set_index("run")
    assert (top["measure"] == "dead units").all() and (top["epoch"] == 5).all()
    assert top.loc[WITHOUT, "fraction"] > 0.5 > 0.1 > top.loc[WITH, "fraction"]
    # recomputed from the final weights: share of units whose input is ≤ 0 for every validation sample
    values = layer_values(pair.final[WITHOUT], "relu", digits().X_val)
    layer = int(top.loc[WITHOUT, "layer"])
    a = values[layer - 1][1]  # (N, H) ReLU outputs
    assert top.loc[WITHOUT, "fraction"] == (a == 0).all(axis=0).mean()
    assert not pair.diverged[WITHOUT] and not pair.diverged[WITH]
    assert set(pair.health["epoch"]) == set(range(6))  # every epoch, 0 (the start) included


def test_unit_health_definitions_on_known_values():
    u = np.array([[-1.0, 2.0, 0.0], [-3.0, -1.0, 0.0]])  # unit 0 and unit 2 never positive
    dead = unit_health([(u, np.maximum(u, 0))], "relu")
    assert dead.to_dict("records") == [{"layer": 1, "measure": "dead units", "fraction": 2 / 3}]
    t = np.array([[0.995, -0.999, 0.5], [-0.991, 0.98, 0.2]])
    sat = unit_health([(np.arctanh(t), t)], "tanh").set_index("measure")["fraction"]
    assert sat["saturated units"] == 1 / 3 and sat["saturated values"] == 3 / 6
    s = np.array([[0.005, 0.995], [0.999, 0.5]])
    sat = unit_health([(s, s)], "sigmoid").set_index("measure")["fraction"]
    assert sat["saturated units"] == 1 / 2 and sat["saturated values"] == 3 / 4
    assert unit_health([(u, u)], "identity").empty


def test_histograms_share_their_bin_edges_and_count_every_value():
    pair = small_pair()
    h = pair.histograms
    assert set(h["epoch"]) == set(pair.epochs) == {0, 1, 2}
    for (_, _), group in h.groupby(["layer", "quantity"]):
        edges = {tuple(g["bin_start"]) for _, g in group.groupby(["run", "epoch"])}
        assert len(edges) == 1  # one set of edges for both runs and every epoch
    n = len(digits().y_val) * 16
    assert (h.groupby(["run", "epoch", "layer", "quantity"])["count"].sum() == n).all()
    per_run = pair.histograms_per_run.groupby(["run", "layer", "quantity"])["bin_start"].min().unstack("run")
    assert (per_run[WITHOUT] != per_run[WITH]).any()  # by run: each run spans its own values
    # the counts and moments of known values
    snaps = {
        (WITHOUT, 0): [(np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[5.0, 5.0], [5.0, 5.0]]))],
        (WITH, 0): [(np.array([[4.0]]), np.array([[9.0]]))],
    }
    counts = histograms(snaps, bins=4)
    pre = counts[(counts.quantity == "pre-activation") & (counts.run == WITHOUT)]
    assert list(pre["count"]) == [1, 1, 1, 1] and pre["bin_start"].iloc[0] == 0 and pre["bin_end"].iloc[-1] == 4
    m = moments(snaps).set_index(["run", "quantity"])
    assert m.loc[(WITHOUT, "pre-activation"), "mean"] == 1.5 and m.loc[(WITHOUT, "pre-activation"), "std"] == np.std(
        [0, 1, 2, 3]
    )


def test_at_the_start_eval_mode_batch_norm_is_almost_the_identity():
    """Running estimates 0 and 1 at epoch 0: the two runs' histograms and moments agree there, then part."""
    m = small_pair().moments.set_index(["epoch", "layer", "quantity", "run"])["std"].unstack("run")
    assert np.allclose(m.loc[0, WITHOUT], m.loc[0, WITH], rtol=1e-4)
    assert not np.allclose(m.loc[2, WITHOUT], m.loc[2, WITH], rtol=1e-2)


def test_sizes_are_checked_before_anything_trains():
    calls = []
    with pytest.raises(StudyError, match="1 to 12 learning rates"):
        lr_sensitivity(digits(), SMALL, rates=np.geomspace(1e-3, 3, MAX_RATES + 1), progress=calls.append)
    with pytest.raises(StudyError, match="1 to 50 epochs"):
        lr_sensitivity(digits(), SMALL, rates=(0.1,), epochs=51, progress=calls.append)
    with pytest.raises(StudyError, match=r"in \(0, 10\]"):
        lr_sensitivity(digits(), SMALL, rates=(0.1, float("nan")))
    with pytest.raises(StudyError, match="add a hidden layer"):
        paired_runs(digits(), TrainConfig(hidden_dims=()))
    with pytest.raises(ValueError, match="batch size of at least 2"):
        paired_runs(digits(), SMALL.replace(batch_size=1))
    assert calls == []


def test_lr_sweep_flags_diverged_runs_without_crashing():
    config = TrainConfig(hidden_dims=(16, 16), activation="elu", batch_size=64, seed=0, dtype="float64")
    calls = []
    sweep = lr_sensitivity(
        digits(),
        config,
        rates=(0.1, 10.0),
        epochs=2,
        max_train=400,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (8, 8) and len(calls) == 8  # 2 rates × 2 runs × 2 epochs, diverged ones included
    assert list(sweep["run"]) == [WITHOUT, WITH] * 2
    row = sweep.set_index(["lr", "run"])
    assert row.loc[(10.0, WITHOUT), "diverged"] and row.loc[(10.0, WITHOUT), "epochs_done"] == 1
    assert not row.loc[(0.1, WITHOUT), "diverged"] and not row.loc[(10.0, WITH), "diverged"]
    assert np.isfinite(sweep["val_accuracy"]).all() and sweep["val_accuracy"].between(0, 1).all()
    # the diverged run counts with its last finite validation accuracy: that of epoch 1
    small = replace(digits(), X_train=digits().X_train[:400], y_train=digits().y_train[:400])
    trainer = Trainer(small, config.replace(lr=10.0, epochs=1))
    list(trainer.epochs())
    assert row.loc[(10.0, WITHOUT), "val_accuracy"] == trainer.last_metrics()["val_accuracy"]
    summary = sweep_summary(sweep).set_index("run")
    assert summary.loc[WITHOUT, "diverged"] == 1 and summary.loc[WITH, "diverged"] == 0
    # diverged in its first epoch: chance, 1 / classes
    early = lr_sensitivity(digits(), config.replace(batch_size=16), rates=(10.0,), epochs=1, max_train=400)
    first = early.set_index("run").loc[WITHOUT]
    assert first["diverged"] and first["epochs_done"] == 0 and first["val_accuracy"] == 1 / 10


def test_the_course_recipe_and_a_small_run_of_its_experiment():
    r = COURSE_RECIPE
    assert (r.hidden_dims, r.activation, r.optimizer, r.lr, r.batch_size, r.epochs, r.seed) == (
        (128,),
        "elu",
        "sgd",
        0.1,
        128,
        10,
        42,
    )
    result = course_experiment(digits(), config=r.replace(hidden_dims=(16,), epochs=2), max_train=300)
    test = result.test.set_index("run")
    assert list(test.index) == list(RUNS) and test["test_accuracy"].between(0.3, 1).all()
    assert test["diverged"].isna().all()
    assert set(result.history["run"]) == set(RUNS) and result.history["epoch"].max() == 2


@pytest.mark.parametrize("hidden", [(32, 32), (7,), (5, 4, 3)])
def test_parameter_count_matches_the_network(hidden):
    count = bn_parameter_count(64, hidden, 10).set_index("layer")
    total = count.loc["total"]
    assert total["trained_without"] == MLP(64, hidden, 10).n_parameters() == n_parameters(64, hidden, 10)
    assert total["trained_with"] == MLP(64, hidden, 10, batch_norm=True).n_parameters()
    assert total["trained_with"] == n_parameters(64, hidden, 10, batch_norm=True)
    assert total["added"] == sum(hidden) and total["buffers"] == 2 * sum(hidden)
    assert (count.loc["1", ["gamma", "beta", "biases_with"]] == [hidden[0], hidden[0], 0]).all()
    assert count.loc[str(len(hidden) + 1), "gamma"] == 0  # no batch norm on the output layer


def gamma_beta_case():
    pair = small_pair()
    data = digits()
    return pair.final[WITH], data.X_train[:12], data.y_train[:12]


def test_gamma_beta_sums_equal_backward_autograd_and_finite_differences():
    pytest.importorskip("torch")
    weights, X, y = gamma_beta_case()
    s = gamma_beta_sums(weights, "tanh", X, y, layer=2, unit=5)
    assert len(s.terms) == 12 and np.allclose(s.terms["dy_x_hat"], s.terms["dy"] * s.terms["x_hat"])
    assert abs(s.dbeta_sum - s.dbeta_backward) < 1e-15 and abs(s.dgamma_sum - s.dgamma_backward) < 1e-15
    assert abs(s.dbeta_sum - s.dbeta_autograd) < 1e-12 and abs(s.dgamma_sum - s.dgamma_autograd) < 1e-12
    assert abs(s.dgamma_sum) > 1e-6 and abs(s.dbeta_sum) > 1e-6  # not a vacuous 0 = 0

    def loss(name, h):
        w = {k: v.copy() for k, v in weights.items()}
        w[name][5] += h
        return MLP.from_weights(w, "tanh").train().loss_and_backward(X, y)[0]

    h = 1e-5
    for name, value in (("beta2", s.dbeta_sum), ("gamma2", s.dgamma_sum)):
        numeric = (loss(name, h) - loss(name, -h)) / (2 * h)
        assert abs(numeric - value) < 1e-8 * max(1.0, abs(value))
    assert s.terms["x_hat"].mean() == pytest.approx(0, abs=1e-12)  # x̂ is normalized over the batch


def test_gamma_beta_latex_writes_the_sums_with_their_numbers():
    weights, X, y = gamma_beta_case()
    s = gamma_beta_sums(weights, "tanh", X, y, layer=1, unit=0, autograd=False)
    beta, gamma = gamma_beta_latex(s, shown=2)
    assert r"\beta^{(1)}_{0}" in beta and r"\sum_{n=0}^{11}" in beta and r"+ \cdots" in beta
    assert beta.endswith(f"= {tex_number(s.dbeta_sum, 6)}") and gamma.endswith(f"= {tex_number(s.dgamma_sum, 6)}")
    first = s.terms.iloc[0]
    assert rf"{tex_number(first.dy, brackets=True)} \cdot {tex_number(first.x_hat, brackets=True)}" in gamma


def test_bad_choices_are_refused_in_one_line():
    weights, X, y = gamma_beta_case()
    with pytest.raises(LayerChoiceError, match="hidden layer must be a whole number from 1 to 2"):
        gamma_beta_sums(weights, "tanh", X, y, layer=3, unit=0, autograd=False)
    with pytest.raises(LayerChoiceError, match="unit of layer 1 must be a whole number from 0 to 15"):
        gamma_beta_sums(weights, "tanh", X, y, layer=1, unit=16, autograd=False)
    with pytest.raises(LayerChoiceError, match="at least 2"):
        gamma_beta_sums(weights, "tanh", X[:1], y[:1], layer=1, unit=0, autograd=False)
    with pytest.raises(LayerChoiceError, match="no batch norm"):
        gamma_beta_sums(small_pair().final[WITHOUT], "tanh", X, y, layer=1, unit=0, autograd=False)


def test_eval_mode_output_does_not_depend_on_the_batch():
    weights, _, _ = gamma_beta_case()
    X = digits().X_train
    before = {k: v.copy() for k, v in weights.items()}
    dep = batch_dependence(weights, "tanh", X, 7, batch_a=range(20, 40), batch_b=range(100, 108), layer=2)
    assert dep.train_gap > 1e-2 and dep.eval_gap < 1e-12  # eval: the same numbers up to round-off
    v = dep.values.set_index(["mode", "batch", "unit"]).sort_index()["value"]
    assert np.allclose(v.loc["eval", "alone"], v.loc["eval", "A"], rtol=0, atol=1e-12)
    mlp = MLP.from_weights(weights, "tanh").eval()  # eval mode through the MLP's own forward
    mlp.logits(X[7:8])
    assert np.allclose(mlp.bn_outs[1][0], v.loc["eval", "alone"].to_numpy(), atol=1e-12)
    assert all(np.array_equal(before[k], weights[k]) for k in weights)  # running estimates untouched
    table = dep.table(units=3)
    assert list(table.index) == [0, 1, 2] and "eval mode, alone" in table.columns
    assert isinstance(table, pd.DataFrame) and table.shape == (3, 5)

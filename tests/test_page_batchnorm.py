"""The Batch norm page, opened from the entrypoint as a user would; its numbers recomputed outside the app."""

import re
from functools import cache

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.batchnorm.experiments import LR_GRID, course_experiment, lr_sensitivity, sweep_summary
from core.analysis.batchnorm.layer import gamma_beta_sums
from core.analysis.batchnorm.study import RUNS, health_summary, paired_runs, snapshot_epochs
from core.analysis.text.notation import tex_number
from core.data import load_dataset
from core.nn.mlp import MLP
from core.training.batches import draw_batch
from core.training.config import TrainConfig
from tests.page_testing import ENTRYPOINT, chart, charts, encoding_fields, open_page

WITHOUT, WITH = RUNS
DEEP_RELU = {"dataset": "digits", "depth": "6", "width": "32", "activation": "relu", "lr": "1", "batch_size": "32"}
MOONS = {"n_samples": 400, "noise": 0.2, "seed": 42}  # the app's default data


@cache
def deep_relu_pair(epochs):
    config = TrainConfig(
        hidden_dims=(32,) * 6, activation="relu", lr=1.0, batch_size=32, epochs=epochs, seed=42, dtype="float64"
    )
    return paired_runs(load_dataset("digits"), config)


def open_batchnorm(epochs, **query):
    """The page with ``epochs`` per run from its first run (the default 20 would train once for nothing)."""
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()  # Home, as open_page
    at.session_state["w_bn_epochs"] = epochs
    at.switch_page("../pages/batchnorm.py")
    at.run()
    assert not at.exception, at.exception
    return at


def assert_histograms_drawn(at, counts, epoch, quantity):
    """The histogram chart draws ``counts`` of ``quantity`` at ``epoch`` as bars, the first epoch as an outline,
    and names the runs in a legend above the cells (at its right it was cut off at 1,440 px)."""
    shown = chart(at, f"Histograms of every hidden layer at epoch {epoch}")
    drawn = shown.frame_with("bin_start", "shown")
    key = ["run", "layer", "bin_start"]
    for label, e in (("now", epoch), ("start", 0)):
        part = drawn[drawn["shown"] == label].sort_values(key)
        want = counts[(counts["epoch"] == e) & (counts["quantity"] == quantity)].sort_values(key)
        assert np.array_equal(part[["bin_start", "count"]].to_numpy(), want[["bin_start", "count"]].to_numpy())
    legends = [enc.get("legend") for channel, enc in encoding_fields(shown.spec) if channel == "color"]
    assert legends and all((legend or {}).get("orient") == "top" for legend in legends)


def assert_whole_epochs(spec):
    """Every epoch axis of ``spec`` ticks whole epochs only (no 0.2, 0.4 … on a short run)."""
    axes = [enc.get("axis", {}) for channel, enc in encoding_fields(spec) if channel == "x" and enc["field"] == "epoch"]
    assert axes and all(axis.get("tickMinStep") == 1 and axis.get("format") == "d" for axis in axes)


def markdown(at):
    return "\n".join(m.value for m in at.markdown)


def latex(at):
    return " ".join(e.value for e in at.latex)


def table_with(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_deep_relu_net_at_a_high_learning_rate_on_the_digits():
    at = open_batchnorm(5, **DEEP_RELU)
    assert at.number_input(key="w_bn_epochs").value == 5
    pair = deep_relu_pair(5)
    text = markdown(at)

    # dead units: the page's figures are the study's, and batch norm keeps the ReLUs alive
    shown = re.search(r"in any hidden layer: dead units \*\*(\d+)% without batch norm, (\d+)% with it\*\*", text)
    without, with_bn = int(shown.group(1)), int(shown.group(2))
    top = health_summary(pair.health).set_index("run")["fraction"]
    assert (without, with_bn) == (round(100 * top[WITHOUT]), round(100 * top[WITH]))
    assert without > 50 > 10 > with_bn

    # the drift of the last hidden layer's input, at the last epoch and after moving the slider
    m = pair.moments[(pair.moments.layer == 6) & (pair.moments.quantity == "pre-activation")].set_index(
        ["run", "epoch"]
    )
    spread = lambda run, e: f"{m.loc[(run, e), 'mean']:.3g} ± {m.loc[(run, e), 'std']:.3g}"  # noqa: E731
    assert f"at epoch 5 **{spread(WITHOUT, 5)} without batch norm** and **{spread(WITH, 5)} with it**" in text
    assert m.loc[(WITHOUT, 5), "std"] > 10 * m.loc[(WITH, 5), "std"]  # drifted out vs stayed put
    assert "in both runs at epoch 0" in text and "largest difference 0)" in " ".join(c.value for c in at.caption)
    assert at.select_slider(key="w_bn_epoch").options == [str(e) for e in snapshot_epochs(5)] == ["0", "1", "2", "5"]
    at.select_slider(key="w_bn_epoch").set_value(1).run()
    assert f"at epoch 1 **{spread(WITHOUT, 1)} without batch norm**" in markdown(at)
    assert_histograms_drawn(at, pair.histograms, 1, "pre-activation")
    at.radio(key="w_bn_quantity").set_value("post-activation")
    at.toggle(key="w_bn_shared").set_value(False).run()
    assert not at.exception and "out of f, mean ± std" in markdown(at)
    assert_histograms_drawn(at, pair.histograms_per_run, 1, "post-activation")  # each run on its own bins

    # dead units over training: the chart draws the study's fractions, on whole epochs
    drawn = chart(at, "Dead and saturated units").frame_with("fraction", "measure")
    key = ["run", "epoch", "layer", "measure"]
    assert (
        drawn.sort_values(key)[key + ["fraction"]]
        .reset_index(drop=True)
        .equals(pair.health.sort_values(key)[key + ["fraction"]].reset_index(drop=True))
    )
    assert_whole_epochs(chart(at, "Dead and saturated units").spec)
    assert_whole_epochs(chart(at, "Loss per epoch").spec)

    # the parameter count of this network with batch norm
    n_with = MLP(64, [32] * 6, 10, batch_norm=True).n_parameters()
    n_without = MLP(64, [32] * 6, 10).n_parameters()
    assert f"trains **{n_without:,}** numbers without batch norm and **{n_with:,}** with it" in markdown(at)
    assert f"+{6 * 32:,} in all" in markdown(at) and f"({2 * 6 * 32:,} numbers) are buffers" in markdown(at)

    # ∂L/∂γ, ∂L/∂β of a chosen unit: the sums equal the backward and autograd, and the page writes them out
    at.selectbox(key="w_bn_layer").set_value(3)
    at.number_input(key="w_bn_unit").set_value(5).run()
    assert not at.exception
    sums = table_with(at, "sum written out").set_index("gradient")
    assert np.allclose(sums["sum written out"], sums["backward (NumPy)"], rtol=0, atol=1e-15)
    assert np.allclose(sums["sum written out"], sums["autograd (PyTorch)"], rtol=0, atol=1e-12)
    data = load_dataset("digits")
    idx = draw_batch(len(data.y_train), 32, 42, 0, cap=256).indices
    s = gamma_beta_sums(pair.final[WITH], "relu", data.X_train[idx], data.y_train[idx], 3, 5, autograd=False)
    assert (
        sums.loc["∂L/∂γ", "sum written out"] == s.dgamma_sum
        and sums.loc["∂L/∂β", "backward (NumPy)"] == s.dbeta_backward
    )
    tex = latex(at)
    assert r"\beta^{(3)}_{5}" in tex and f"= {tex_number(s.dgamma_sum, 6)}" in tex and r"\sum_{n=0}^{31}" in tex

    # training mode depends on the batch, eval mode does not
    gaps = re.search(r"differ by up to \*\*([0-9.e+-]+)\*\*.*they differ by \*\*([0-9.e+-]+)\*\*", markdown(at))
    assert float(gaps.group(1)) > 1e-3 and float(gaps.group(2)) < 1e-12
    modes = table_with(at, "eval mode, alone")
    assert np.allclose(modes["eval mode, batch A"], modes["eval mode, batch B"], rtol=0, atol=1e-12)
    assert np.allclose(modes["eval mode, alone"], modes["eval mode, batch A"], rtol=0, atol=1e-12)
    assert np.abs(modes["training mode, batch A"] - modes["training mode, batch B"]).max() > 1e-3


def test_the_sweep_and_the_assignments_experiment_are_one_click_away():
    at = open_page("batchnorm")
    at.number_input(key="w_bn_sweep_epochs").set_value(1).run()
    at.button(key="w_bn_sweep").click().run()
    assert not at.exception
    data = load_dataset("moons", **MOONS)
    config = TrainConfig(hidden_dims=(8, 8), activation="tanh", lr=0.3, batch_size=16, seed=42, dtype="float64")
    sweep = lr_sensitivity(data, config, LR_GRID, epochs=1)
    lr = chart(at, "Learning-rate sensitivity")
    assert [enc["field"] for channel, enc in encoding_fields(lr.spec) if channel == "y"][0] == "val_accuracy"
    drawn = lr.frame_with("lr", "val_accuracy").set_index(["run", "lr"])["val_accuracy"].sort_index()
    assert np.array_equal(drawn, sweep.set_index(["run", "lr"])["val_accuracy"].sort_index())
    summary = sweep_summary(sweep).set_index("run")
    for run in RUNS:
        best = f"**{run}**: best validation accuracy {summary.loc[run, 'best_accuracy']:.3f} at lr"
        counts = f"at {summary.loc[run, 'good_rates']} of {len(LR_GRID)} rates; {summary.loc[run, 'diverged']} diverged"
        assert f"{best} {summary.loc[run, 'best_lr']:g}; within 90 % of the best of both runs {counts}" in markdown(at)

    at.button(key="w_bn_course").click().run()
    assert not at.exception
    course = course_experiment(data)
    test = course.test.set_index("run")["test_accuracy"]
    *_, drawn = [c for c in charts(at) if c.title.startswith("Loss per epoch")]  # the course run's, the last one
    key = ["run", "epoch", "split"]
    (accuracy,) = [f for f in drawn.frames if "metric" in f and (f["metric"] == "accuracy").all()]
    accuracy = accuracy.sort_values(key)["value"].to_numpy()
    expected = course.history.query("metric == 'accuracy' and split == 'validation'").sort_values(key)["value"]
    assert np.array_equal(accuracy, expected.to_numpy())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {f"Test accuracy, {run}": f"{test[run]:.4f}" for run in RUNS}
    assert f"{100 * (test[WITH] - test[WITHOUT]):+.2f} percentage points" in markdown(at)
    at.sidebar.selectbox(key="w_activation").set_value("sigmoid").run()  # both results stay on screen
    assert not at.exception and "best validation accuracy" in markdown(at)
    assert {m.label: m.value for m in at.metric} == metrics  # the course network is ELU whatever the sidebar says


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"depth": "0"}, "add a hidden layer in the sidebar"),
        ({"batch_size": "1"}, "batch norm needs a batch size of at least 2"),
        ({"activation": "identity"}, "neither die nor saturate"),
    ],
)
def test_guards_and_activations(query, shown):
    at = open_page("batchnorm", **query)
    assert not at.exception
    messages = [e.value for e in (*at.info, *at.error, *at.markdown)]
    assert any(shown in m for m in messages), messages


def test_saturated_tanh_units_on_the_digits():
    at = open_batchnorm(5, dataset="digits", depth="3", width="32", lr="1", batch_size="32")  # tanh by default
    shown = re.search(r"saturated values \*\*(\d+)% without batch norm, (\d+)% with it\*\*", markdown(at))
    config = TrainConfig(
        hidden_dims=(32,) * 3, activation="tanh", lr=1.0, batch_size=32, epochs=5, seed=42, dtype="float64"
    )
    top = health_summary(paired_runs(load_dataset("digits"), config).health).set_index(["measure", "run"])["fraction"]
    assert shown.groups() == (
        f"{top['saturated values', WITHOUT]:.0%}"[:-1],
        f"{top['saturated values', WITH]:.0%}"[:-1],
    )
    assert int(shown.group(1)) > 20 > 5 > int(shown.group(2))
    assert "saturated units **0% without batch norm, 0% with it**" in markdown(at)  # none saturated for every sample

"""The Playground page, opened as a link would open it, asserted on the numbers its charts show."""

import re

import numpy as np
import pytest

from core.analysis.traces.evaluation import confusion_matrix, decision_grid
from core.data import load_dataset
from core.links import DEFAULTS
from tests.page_testing import (
    captions,
    chart,
    charts,
    encoding_fields,
    metrics,
    open_page,
    texts,
    the_trainer,
    unescaped,
)


def open_playground(**query):
    return open_page("playground", **query)


def is_one_two_five(ticks):
    """Log-axis ticks a student can read: each is 1, 2 or 5 times a power of ten."""
    return all(f"{t:.0e}"[0] in "125" and np.isclose(float(f"{t:.0e}"), t) for t in ticks)


def test_opens_on_a_toy_set_and_learns_with_steps():
    at = open_playground()
    assert metrics(at) == {"Epochs done": "0 / 100", "Steps": "0", "Train loss": "–", "Validation accuracy": "–"}
    assert any("Indices count from 0" in c for c in captions(at))
    summary = captions(at)[0]  # the data set named once: "Two moons · hidden 8 → 8 · … \n240 train / …"
    assert summary.startswith("Two moons · hidden") and summary.count("moons") == 1 and "\n240 train / " in summary
    at.button(key="step_batch").click().run()
    assert metrics(at)["Steps"] == "1" and not at.exception
    at.button(key="step_epoch").click().run()
    first = metrics(at)
    assert first["Epochs done"] == "1 / 100" and first["Steps"] == "15"  # 240 training points, batch 16
    for _ in range(10):
        at.button(key="step_epoch").click().run()
    later = metrics(at)
    assert later["Epochs done"] == "11 / 100" and later["Steps"] == "165"
    assert float(later["Train loss"]) < float(first["Train loss"])
    assert float(later["Validation accuracy"].rstrip("%")) >= 85
    assert [c.title for c in charts(at)] == [
        "Decision regions and data",
        "Cross-entropy loss per epoch",
        "Accuracy per epoch",
    ]


def test_loss_chart_shows_every_mini_batch_and_the_epoch_means_with_a_legend():
    at = open_playground()
    for _ in range(3):
        at.button(key="step_epoch").click().run()
    trainer = the_trainer(at)
    loss = chart(at, "Cross-entropy loss")
    frame = loss.frame_with("series", "value")
    batch = frame[frame.series == "mini-batch"]
    np.testing.assert_array_equal(batch["value"], trainer.step_history()["loss"])
    np.testing.assert_allclose(batch["epoch"], trainer.step_history()["step"] / 15)  # 15 steps per epoch
    h = trainer.history()
    epoch_means = h[(h.metric == "loss") & (h.split == "train")]["value"]
    np.testing.assert_array_equal(frame[frame.series == "train (epoch mean)"]["value"], epoch_means)
    colors = [enc for channel, enc in encoding_fields(loss.spec) if channel == "color"]
    assert colors[0]["scale"]["domain"] == ["mini-batch", "train (epoch mean)", "validation"]  # all in the legend
    ys = [e for c, e in encoding_fields(loss.spec) if c == "y"]
    ticks = ys[0]["axis"]["values"]
    assert is_one_two_five(ticks) and ys[0]["scale"]["domain"] == [min(ticks), max(ticks)]
    assert min(ticks) <= frame["value"].min() and frame["value"].max() <= max(ticks)
    xs = [e for c, e in encoding_fields(loss.spec) if c == "x"]
    assert xs[0]["axis"]["tickMinStep"] == 1 and xs[0]["axis"]["format"] == "d"  # whole epochs, no 0.5 ticks
    assert xs[0]["axis"]["tickCount"] <= 10  # … and at most 10 of them: "19 20" do not run together on a projector
    accuracy = chart(at, "Accuracy").frame_with("series", "value")
    assert set(accuracy.series) == {"train (epoch mean)", "validation"}
    assert loss.spec["title"] == "Cross-entropy loss per epoch" and (frame["shown"] == frame["value"]).all()  # no clip


def test_a_long_run_draws_every_kth_mini_batch_and_its_last():
    at = open_playground(batch_size="2", epochs="4")  # 120 steps an epoch
    for _ in range(4):
        at.button(key="step_epoch").click().run()
    steps = the_trainer(at).step_history()
    assert len(steps) == 480
    frame = chart(at, "Cross-entropy loss").frame_with("series", "value")
    batch = frame[frame.series == "mini-batch"]
    assert batch["step"].tolist() == [*range(1, 480, 2), 480]  # 400 steps at most: every 2nd, the last kept
    np.testing.assert_array_equal(batch["value"], steps.set_index("step").loc[batch["step"], "loss"])


def test_decision_regions_are_the_predictions_at_the_cell_centres():
    at = open_playground()
    at.button(key="step_epoch").click().run()
    trainer, data = the_trainer(at), the_trainer(at).data
    grid = chart(at, "Decision regions").frame_with("predicted", "confidence")
    assert len(grid) == 60 * 60 and grid["finite"].all()
    centres = np.stack([(grid.x0 + grid.x0_end) / 2, (grid.x1 + grid.x1_end) / 2], axis=1)  # (3600, 2) raw units
    probs = trainer.predict_proba(data.from_raw(centres))  # the network sees standardized inputs
    assert (grid["predicted"] == np.asarray(data.class_names)[probs.argmax(axis=1)]).all()
    np.testing.assert_allclose(grid["confidence"], probs.max(axis=1), rtol=1e-12)
    raw = data.to_raw(data.X_train)
    assert grid.x0.min() < raw[:, 0].min() and raw[:, 0].max() < grid.x0_end.max()  # every point inside


def test_decision_grid_standardizes_the_cell_centres():
    data = load_dataset("moons", n_samples=200, noise=0.2, seed=1)
    seen = []

    def record(X):
        seen.append(X)
        return np.tile([0.3, 0.7], (len(X), 1))

    grid = decision_grid(record, data, resolution=7)
    centres = np.stack([(grid.x0 + grid.x0_end) / 2, (grid.x1 + grid.x1_end) / 2], axis=1)
    np.testing.assert_allclose(seen[0], data.from_raw(centres), rtol=1e-12)
    assert len(grid) == 49 and (grid.predicted == data.class_names[1]).all() and np.allclose(grid.confidence, 0.7)
    nan = decision_grid(lambda X: np.full((len(X), 2), np.nan), data, resolution=3)
    assert not nan["finite"].any() and (nan["confidence"] == 0).all()


def test_show_test_points_adds_exactly_the_test_set():
    at = open_playground()
    trainer = the_trainer(at)
    data = trainer.data
    regions = chart(at, "Decision regions")
    points = regions.frame_with("class", "split")
    assert set(points.split) == {"train"} and len(points) == len(data.y_train)
    np.testing.assert_allclose(points[["x0", "x1"]], data.to_raw(data.X_train))
    shapes = [e for c, e in encoding_fields(regions.spec) if c == "shape"]
    assert shapes[0]["scale"]["domain"] == ["train"]  # no "test ▲" in the legend while test points are hidden
    titles = {e.get("title") for c, e in encoding_fields(regions.spec) if c in ("x", "y")}
    assert {"x₀", "x₁"} <= titles

    at.toggle(key="show_test").set_value(True).run()
    regions = chart(at, "Decision regions")
    points = regions.frame_with("class", "split")
    test = points[points.split == "test"]
    assert len(test) == len(data.y_test) and (points.split == "train").sum() == len(data.y_train)
    np.testing.assert_allclose(test[["x0", "x1"]], data.to_raw(data.X_test))
    assert (test["class"] == np.asarray(data.class_names)[data.y_test]).all()
    assert [e for c, e in encoding_fields(regions.spec) if c == "shape"][0]["scale"]["domain"] == ["train", "test"]


def test_play_trains_and_reset_returns_to_the_same_start():
    at = open_playground()
    at.button(key="play").click().run()
    assert at.session_state["running"] and int(metrics(at)["Steps"]) > 0
    at.button(key="pause").click().run()
    assert not at.session_state["running"]
    at.button(key="reset").click().run()
    assert metrics(at)["Steps"] == "0"
    at.button(key="step_batch").click().run()
    trainer = the_trainer(at)
    first_loss = trainer.step_history().loss.iloc[0]
    at.button(key="reset").click().run()
    at.button(key="step_batch").click().run()
    assert trainer.step_history().loss.iloc[0] == first_loss


def test_controls_change_the_network_and_the_data():
    at = open_playground()
    at.sidebar.selectbox(key="w_activation").set_value("relu").run()
    at.sidebar.number_input(key="w_depth").set_value(3).run()
    at.sidebar.selectbox(key="w_dataset").set_value("spiral").run()
    assert not at.exception
    trainer = the_trainer(at)
    assert trainer.config.hidden_dims == (8, 8, 8) and trainer.config.activation == "relu"
    assert trainer.data.n_classes == 3
    assert at.query_params["dataset"] == "spiral" and at.query_params["depth"] == "3"
    grid = chart(at, "Decision regions").frame_with("predicted", "confidence")
    assert set(grid.predicted) <= set(trainer.data.class_names)


def test_digits_confusion_matrix_counts_true_rows_and_predicted_columns():
    at = open_playground(dataset="digits", depth="1", width="32")
    at.button(key="step_epoch").click().run()
    trainer = the_trainer(at)
    data = trainer.data
    pred = trainer.predict_proba("test").argmax(axis=1)
    cm = chart(at, "Confusion matrix")
    shown = cm.frame_with("true", "predicted", "count")
    for t in range(10):
        for p in range(10):
            expected = int(np.sum((data.y_test == t) & (pred == p)))
            row = shown[(shown["true"] == str(t)) & (shown["predicted"] == str(p))]
            assert int(row["count"].iloc[0]) == expected, (t, p)
    fields = {c: e["field"] for c, e in encoding_fields(cm.spec) if c in ("x", "y")}
    assert fields == {"x": "predicted", "y": "true"}  # rows are the true class
    assert np.allclose(shown.groupby("true")["share_of_true"].sum(), 1.0)
    images = at.get("image")
    assert images and metrics(at)["Epochs done"] == "1 / 100"
    shown_captions = [img.proto.imgs[k].caption for img in images for k in range(len(img.proto.imgs))]
    for k, text in enumerate(shown_captions):
        assert text.startswith("✓" if pred[k] == data.y_test[k] else "✗") and f"(true {data.y_test[k]})" in text


def test_confusion_matrix_puts_the_true_class_in_rows():
    cm = confusion_matrix(np.array([0, 0, 0, 1]), np.array([1, 1, 0, 1]), ["a", "b"])
    counts = cm.pivot(index="true", columns="predicted", values="count")
    assert counts.loc["a", "b"] == 2 and counts.loc["b", "a"] == 0 and counts.loc["a", "a"] == 1
    assert cm.loc[(cm["true"] == "a") & (cm["predicted"] == "b"), "share_of_true"].iloc[0] == pytest.approx(2 / 3)


def test_a_diverging_run_stops_with_one_message_and_says_why_the_regions_are_blank():
    at = open_playground(depth="4", width="64", activation="relu", lr="10")
    at.button(key="step_epoch").click().run()
    assert not at.exception
    (error,) = at.error
    steps = int(re.search(r"the (\d+) steps before it are kept", error.value).group(1))
    assert f"diverged at step {steps + 1}" in error.value and "Lower the learning rate" in error.value
    assert metrics(at)["Steps"] == str(steps) and metrics(at)["Epochs done"] == "0 / 100"
    assert at.button(key="step_epoch").disabled and at.button(key="play").disabled  # nothing more to train
    assert "left blank" in texts(at)
    assert any("No epoch finished before the run diverged" in c for c in captions(at))
    loss = chart(at, "Cross-entropy loss")
    frame = loss.frame_with("series", "value", "shown")
    losses = the_trainer(at).step_history()["loss"].to_numpy()
    np.testing.assert_array_equal(frame["value"], losses)  # the curve up to the divergence stays, true values kept
    y = [e for c, e in encoding_fields(loss.spec) if c == "y"][0]
    ticks, top = y["axis"]["values"], y["scale"]["domain"][1]
    assert is_one_two_five(ticks) and len(ticks) <= 7 and top == max(ticks)
    assert 10 * losses[0] <= top <= 25 * losses[0] and losses.max() > 1e6 * top  # readable: the axis ends near 10×
    np.testing.assert_array_equal(frame["shown"], np.minimum(losses, top))  # larger losses sit on the top edge …
    assert loss.spec["title"]["subtitle"] == f"losses above {top:g} (10× the first) as ▲ at the top"
    marks = [layer["mark"] for layer in loss.spec["layer"]]
    assert {"type": "point", "shape": "triangle-up", "filled": True, "size": 90, "opacity": 1} in marks  # … as ▲
    at.sidebar.select_slider(key="w_lr").set_value(0.03).run()  # a new, finite run
    assert not at.error and not at.button(key="step_epoch").disabled


def test_reset_while_playing_shows_play_again():
    at = open_playground()
    at.button(key="play").click().run()
    at.button(key="reset").click().run()
    assert not at.session_state["running"] and metrics(at)["Steps"] == "0"
    assert not at.button(key="step_batch").disabled and not at.button(key="play").disabled


def test_raising_epochs_continues_the_same_run():
    at = open_playground(epochs="2")
    at.button(key="step_epoch").click().run()
    at.button(key="step_epoch").click().run()
    assert any("Finished 2 epochs" in s.value for s in at.success)
    at.sidebar.number_input(key="w_epochs").set_value(5).run()
    assert metrics(at)["Epochs done"] == "2 / 5"
    at.button(key="step_epoch").click().run()
    assert metrics(at)["Epochs done"] == "3 / 5"


def test_torch_float32_on_a_toy_set():
    at = open_playground(backend="torch", dtype="float32")
    at.button(key="step_epoch").click().run()
    assert not at.exception and metrics(at)["Epochs done"] == "1 / 100"
    assert the_trainer(at).config.backend == "torch"
    assert chart(at, "Decision regions").frame_with("predicted")["finite"].all()


def test_missing_dataset_files_give_a_message_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    at = open_playground(dataset="mnist")
    assert not at.exception
    assert any("train-images-idx3-ubyte.gz" in unescaped(e.value) for e in at.error)
    at.sidebar.selectbox(key="w_dataset").set_value("moons").run()
    assert not at.exception and not at.error


@pytest.mark.parametrize(
    "name, value", [("lr", "abc"), ("depth", "-4"), ("dataset", "../../etc/passwd"), ("activation", "<b>x</b>")]
)
def test_hostile_links_show_a_notice_and_use_the_default(name, value):
    at = open_playground(**{name: value})
    (shown,) = [w.value for w in at.warning if w.value.startswith("Ignored")]
    notice = unescaped(shown)
    assert f"Ignored {name}=" in notice and f"using {getattr(DEFAULTS, name)}" in notice
    assert "<b>" not in shown  # shown as text, not HTML
    assert getattr(at.session_state["config"], name) == getattr(DEFAULTS, name)
    assert not at.exception

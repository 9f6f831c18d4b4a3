"""The Playground page, opened from the entrypoint as a user would."""

import pytest

from tests.helpers import open_page


def open_playground(**query):
    return open_page("playground", **query)


def metrics(at):
    return {m.label: m.value for m in at.metric}


def test_opens_on_a_toy_set_and_learns_with_steps():
    at = open_playground()
    assert metrics(at)["Epoch"] == "0 / 100" and metrics(at)["Train loss"] == "–"
    at.button(key="step_batch").click().run()
    assert metrics(at)["Steps"] == "1" and not at.exception
    at.button(key="step_epoch").click().run()
    first = metrics(at)
    assert first["Epoch"] == "1 / 100"
    for _ in range(10):
        at.button(key="step_epoch").click().run()
    later = metrics(at)
    assert later["Epoch"] == "11 / 100"
    assert float(later["Train loss"]) < float(first["Train loss"])
    assert float(later["Validation accuracy"].rstrip("%")) >= 85
    assert len(at.get("vega_lite_chart")) == 3  # decision regions, loss, accuracy


def test_play_trains_and_reset_returns_to_the_same_start():
    at = open_playground()
    at.button(key="play").click().run()
    assert at.session_state["running"] and int(metrics(at)["Steps"]) > 0
    at.button(key="pause").click().run()
    assert not at.session_state["running"]
    at.button(key="reset").click().run()
    assert metrics(at)["Steps"] == "0"
    at.button(key="step_batch").click().run()
    loss_a = at.session_state["trainers"]
    trainer = next(iter(loss_a.values()))
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
    trainer = at.session_state["trainers"][list(at.session_state["trainers"])[-1]]
    assert trainer.config.hidden_dims == (8, 8, 8) and trainer.config.activation == "relu"
    assert trainer.data.n_classes == 3
    assert at.query_params["dataset"] == "spiral" and at.query_params["depth"] == "3"
    at.toggle(key="show_test").set_value(True).run()
    assert not at.exception


def test_digits_show_images_and_a_confusion_matrix():
    at = open_playground(dataset="digits", depth="1", width="32")
    at.button(key="step_epoch").click().run()
    assert not at.exception
    assert len(at.get("image")) >= 1 and len(at.get("vega_lite_chart")) == 3
    assert metrics(at)["Epoch"] == "1 / 100"


def test_a_diverging_run_stops_with_a_message_and_keeps_its_charts():
    at = open_playground(lr="10", activation="relu", width="64", batch_size="4")
    for _ in range(30):
        at.button(key="step_epoch").click().run()
        if at.error:
            break
    assert not at.exception
    assert any("diverged at epoch" in e.value and "Lower the learning rate" in e.value for e in at.error)
    assert at.button(key="step_epoch").disabled and at.button(key="play").disabled  # nothing more to train
    assert len(at.get("vega_lite_chart")) >= 2  # the curves up to the divergence stay
    at.sidebar.number_input(key="w_lr").set_value(0.05).run()  # a new, finite run
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
    assert metrics(at)["Epoch"] == "2 / 5"
    at.button(key="step_epoch").click().run()
    assert metrics(at)["Epoch"] == "3 / 5"


def test_torch_float32_on_a_toy_set():
    at = open_playground(backend="torch", dtype="float32")
    at.button(key="step_epoch").click().run()
    assert not at.exception and metrics(at)["Epoch"] == "1 / 100"
    assert len(at.get("vega_lite_chart")) == 3


def test_missing_dataset_files_give_a_message_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    at = open_playground(dataset="mnist")
    assert not at.exception
    assert any("train-images-idx3-ubyte.gz" in e.value for e in at.error)
    at.sidebar.selectbox(key="w_dataset").set_value("moons").run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("query", [{"lr": "abc"}, {"depth": "-4"}, {"dataset": "../../etc/passwd"}])
def test_hostile_links_show_a_notice(query):
    at = open_playground(**query)
    assert any("Ignored" in w.value for w in at.warning) or at.session_state["config"] is not None
    assert not at.exception

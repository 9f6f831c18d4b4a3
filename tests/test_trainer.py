"""The training loop: determinism, divergence, model selection, reset, history, runs on disk."""

import dataclasses

import numpy as np
import pytest

from core.data import load_dataset
from core.training.config import ConfigError, TrainConfig, validate
from core.training.runs import load_run, save_run
from core.training.trainer import Trainer, TrainingDiverged


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=300, noise=0.15, seed=3)


def run(data, **kw):
    trainer = Trainer(
        data, TrainConfig(**{"hidden_dims": (8,), "epochs": 5, "batch_size": 16, "dtype": "float64", **kw})
    )
    list(trainer.epochs())
    return trainer


def test_same_seed_same_run_and_other_seed_differs(moons):
    a, b, c = run(moons, seed=1), run(moons, seed=1), run(moons, seed=2)
    assert a.history().equals(b.history())
    assert not a.history().equals(c.history())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_history_is_tidy_and_learning_happens(moons, backend):
    t = run(moons, backend=backend, epochs=20, lr=0.3, activation="tanh")
    h = t.history()
    assert list(h.columns) == ["epoch", "split", "metric", "value"]
    assert len(h) == 20 * 4 and set(h.split) == {"train", "validation"}
    loss = h[(h.split == "train") & (h.metric == "loss")].value.to_numpy()
    assert loss[-1] < 0.5 * loss[0]
    assert t.test_metrics()["test_accuracy"] > 0.85
    assert t.global_step == 20 * t.steps_per_epoch and t.finished


def test_backends_give_the_same_history_in_float64(moons):
    a, b = run(moons, backend="numpy", optimizer="momentum"), run(moons, backend="torch", optimizer="momentum")
    assert np.allclose(a.history().value, b.history().value, rtol=1e-8)


def test_best_on_validation_weights_are_kept(moons):
    t = run(moons, epochs=8)
    h = t.history()
    val = h[(h.split == "validation") & (h.metric == "accuracy")].set_index("epoch").value
    assert t.best["epoch"] == int(val.idxmax()) and t.best["val_accuracy"] == val.max()
    loss, acc = t.evaluate("val", weights=t.best["weights"])
    assert acc == pytest.approx(val.max())


def test_divergence_stops_with_a_clear_message_and_keeps_history(moons):
    t = Trainer(
        moons, TrainConfig(hidden_dims=(32, 32), activation="relu", lr=10.0, batch_size=8, epochs=50, dtype="float32")
    )
    with pytest.raises(
        TrainingDiverged,
        match=r"diverged at step (\d+) \(epoch \d+\).*the (\d+) steps before it are kept"
        r".*Lower the learning rate",
    ) as err:
        list(t.epochs())
    rows, steps = len(t.history()), t.global_step
    assert f"at step {steps + 1} " in str(err.value) and f"the {steps} steps before" in str(err.value)
    assert all(np.isfinite(w).all() for w in t.weights().values())  # the bad update was skipped
    with pytest.raises(TrainingDiverged):
        t.step()
    assert len(t.history()) == rows and t.global_step == steps
    t.reset()
    assert t.diverged is None and t.global_step == 0


def test_reset_replays_the_same_steps(moons):
    t = Trainer(moons, TrainConfig(hidden_dims=(8,), epochs=2, batch_size=16))
    first = [t.step().loss for _ in range(7)]
    t.reset()
    assert [t.step().loss for _ in range(7)] == first


def test_step_results_and_grad_norms(moons):
    t = Trainer(moons, TrainConfig(hidden_dims=(8, 8), epochs=1, batch_size=50, track_grad_norms=True))
    results = list(t.run_epoch())
    assert [r.step for r in results] == list(range(1, t.steps_per_epoch + 1))
    assert results[-1].epoch_done and not any(r.epoch_done for r in results[:-1])
    norms = t.grad_norms()
    assert len(norms) == 3 * t.steps_per_epoch and (norms.grad_norm > 0).all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"hidden_dims": (0,)}, "hidden width"),
        ({"hidden_dims": (8,) * 13}, "hidden layers"),
        ({"batch_size": 0}, "batch size"),
        ({"activation": "swish"}, "activation"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_invalid_configs_are_rejected_with_a_reason(change, message):
    with pytest.raises(ConfigError, match=message):
        validate(TrainConfig(**change))


def test_oversized_network_is_rejected():
    with pytest.raises(ConfigError, match="parameters"):
        validate(TrainConfig(hidden_dims=(1024,) * 6), n_inputs=3072, n_classes=10)


def test_saved_run_loads_back(moons, tmp_path):
    t = run(moons)
    save_run(tmp_path, t, t.test_metrics())
    weights, metrics, history = load_run(tmp_path)
    assert metrics["config"]["hidden_dims"] == [8] and metrics["dataset"] == "moons"
    assert list(weights) == list(t.best["weights"])
    assert all(np.array_equal(weights[k], t.best["weights"][k]) for k in weights)
    assert np.allclose(history.value, t.history().value)
    (tmp_path / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a .zip or .npz"):
        load_run(tmp_path)
    (tmp_path / "history.csv").unlink()
    with pytest.raises(ValueError, match="cannot load the run.*history.csv"):
        load_run(tmp_path)


def test_a_finished_run_does_not_take_more_steps(moons):
    t = run(moons, epochs=2)
    with pytest.raises(RuntimeError, match="finished its 2 epochs"):
        t.step()
    assert t.finished and len(t.history()) == 2 * 4


def test_validation_loss_comes_from_logits_in_float32(moons):
    t = Trainer(moons, TrainConfig(hidden_dims=(8,), dtype="float32"))
    t.model.set_weights({**t.weights(), "W2": t.weights()["W2"] * 1e4})  # absurdly confident outputs
    loss32, _ = t.evaluate("val")
    t64 = Trainer(moons, TrainConfig(hidden_dims=(8,), dtype="float64"))
    t64.model.set_weights({k: v.astype(np.float64) for k, v in t.weights().items()})
    loss64, _ = t64.evaluate("val")
    assert np.isfinite(loss32) and loss32 == pytest.approx(loss64, rel=1e-3)


def test_evaluate_with_other_weights_leaves_the_models_own_alone(moons):
    t = run(moons, epochs=2)
    own = t.weights()
    zeros = {k: np.zeros_like(v) for k, v in own.items()}
    loss, acc = t.evaluate("val", weights=zeros)
    assert loss == pytest.approx(np.log(2))  # uniform probabilities over the two classes
    assert all(np.array_equal(own[k], t.weights()[k]) for k in own)
    assert t.evaluate("val") != (loss, acc)


def test_the_interface_pages_use(moons):
    t = run(moons, epochs=3)
    probs = t.predict_proba("test")
    assert probs.shape == (len(moons.y_test), 2) and np.allclose(probs.sum(axis=1), 1)
    assert np.array_equal(t.predict_proba(moons.X_test), probs)
    last = t.last_metrics()
    h = t.history().query("epoch == 3").set_index(["split", "metric"])["value"]
    assert last == {
        "epoch": 3,
        "train_loss": h["train", "loss"],
        "train_accuracy": h["train", "accuracy"],
        "val_loss": h["validation", "loss"],
        "val_accuracy": h["validation", "accuracy"],
    }
    assert Trainer(moons, TrainConfig(hidden_dims=(4,))).last_metrics() is None
    t.extend(5)
    assert t.config.epochs == 5 and not t.finished
    with pytest.raises(ConfigError, match="epochs"):
        t.extend(0)
    with pytest.raises(dataclasses.FrozenInstanceError):  # change a run only through extend or replace
        t.config.epochs = 7

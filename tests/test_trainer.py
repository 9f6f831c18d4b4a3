"""The training loop: determinism, divergence, model selection, reset, history, runs on disk."""

import numpy as np
import pytest

from core.config import ConfigError, TrainConfig, validate
from core.data import load_dataset
from core.runs import load_run, save_run
from core.trainer import Trainer, TrainingDiverged


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
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+, step \d+.*Lower the learning rate"):
        list(t.epochs())
    rows, steps = len(t.history()), t.global_step
    assert all(np.isfinite(W).all() for W, _ in t.model.get_weights())  # the bad update was skipped
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
    assert all(np.array_equal(W, Wb) for (W, _), (Wb, _) in zip(weights, t.best["weights"]))
    assert np.allclose(history.value, t.history().value)
    (tmp_path / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot load the run"):
        load_run(tmp_path)


def test_a_finished_run_does_not_take_more_steps(moons):
    t = run(moons, epochs=2)
    with pytest.raises(RuntimeError, match="finished its 2 epochs"):
        t.step()
    assert t.finished and len(t.history()) == 2 * 4


def test_validation_loss_comes_from_logits_in_float32(moons):
    t = Trainer(moons, TrainConfig(hidden_dims=(8,), dtype="float32"))
    W, b = t.model.get_weights()[-1]
    t.model.set_weights([t.model.get_weights()[0], (W * 1e4, b)])  # absurdly confident outputs
    loss32, _ = t.evaluate("val")
    t64 = Trainer(moons, TrainConfig(hidden_dims=(8,), dtype="float64"))
    t64.model.set_weights([(W.astype(np.float64), b.astype(np.float64)) for W, b in t.model.get_weights()])
    loss64, _ = t64.evaluate("val")
    assert np.isfinite(loss32) and loss32 == pytest.approx(loss64, rel=1e-3)

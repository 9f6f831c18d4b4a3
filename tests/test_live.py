"""Training in slices: a button's work is bounded in time, and a long epoch finishes over several slices."""

from app.live import train_to_epoch
from core.data import load_dataset
from core.training.config import TrainConfig
from core.training.trainer import Trainer


def test_a_long_epoch_finishes_in_slices_and_stops_at_its_end():
    data = load_dataset("moons", n_samples=400, noise=0.2, seed=1)
    trainer = Trainer(data, TrainConfig(hidden_dims=(8,), batch_size=8))
    assert trainer.steps_per_epoch == 30
    slices = 1
    while not train_to_epoch(trainer, 1, budget_s=0.0):  # no time at all: one step per slice
        slices += 1
    assert slices == 30 and trainer.epoch == 1 and trainer.global_step == 30 and trainer.step_in_epoch == 0
    assert train_to_epoch(trainer, 3) and trainer.epoch == 3 and trainer.global_step == 90  # time enough: one call
    assert train_to_epoch(trainer, 2) and trainer.global_step == 90  # a target already reached trains nothing

"""The backend-agnostic training loop, steppable one mini-batch at a time for the app.

``Trainer.step()`` takes one mini-batch; at the end of an epoch it evaluates on the
validation set, appends to the history and keeps the best-on-validation weights.
``Trainer.epochs()`` is the generator the CLI and the app iterate over.
"""

from array import array
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.nn.losses import log_softmax
from core.training.backends import initial_weights, make_backend
from core.training.batches import epoch_order
from core.training.config import validate


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to do."""


@dataclass
class StepResult:
    epoch: int  # 1-based epoch this step belongs to
    step: int  # 1-based step within the epoch
    loss: float
    epoch_done: bool  # True when this step finished the epoch


class Trainer:
    """Trains an MLP on ``data`` (a ``core.data.Dataset``) as ``config`` (a ``TrainConfig``) says.

    Deterministic for a seed: the initial weights come from ``default_rng(seed)`` and the batch
    order from ``default_rng(seed + 1)``, identical for both backends.

    What pages read: ``weights()``, ``predict_proba(split)``, ``last_metrics()``, ``history()``,
    ``step_history()``, ``grad_norms()``, ``diverged`` (the message, or None); ``extend(epochs)``
    lets a finished run go on.
    """

    def __init__(self, data, config):
        self.data, self.config = data, validate(config, data.n_features, data.n_classes, len(data.y_train))
        dtype = np.dtype(config.dtype)
        splits = ("train", "val", "test")
        self.X = {s: getattr(data, f"X_{s}").astype(dtype, copy=False) for s in splits}  # read-only: may be shared
        self.y = {s: getattr(data, f"y_{s}").astype(np.int64, copy=False) for s in splits}
        self.init_weights = initial_weights(
            data.n_features, config.hidden_dims, data.n_classes, config.seed, config.dtype, config.batch_norm
        )
        self.reset()

    @property
    def steps_per_epoch(self):
        return -(-len(self.y["train"]) // self.config.batch_size)

    def reset(self):
        """Back to the same initial weights, optimizer state and batch order."""
        c = self.config
        self.model = make_backend(c.backend, self.data.n_features, self.data.n_classes, c, self.init_weights)
        self.shuffle_rng = np.random.default_rng(c.seed + 1)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.order = None
        self.rows = []
        # One entry per step (step s at index s − 1), compact: a long run keeps a few MB, not dicts.
        # Read with np.fromiter, never a buffer view: an array exporting its buffer cannot grow.
        self.step_epoch, self.step_loss, self.step_grad_norms = array("i"), array("d"), array("d")
        self._loss_sum = self._correct = self._seen = 0
        self.best = {"val_accuracy": -1.0, "epoch": 0, "weights": self.init_weights}
        self.diverged = None

    @property
    def finished(self):
        return self.epoch >= self.config.epochs and self.step_in_epoch == 0

    def step(self):
        """One mini-batch of SGD (or the configured optimizer). Returns a ``StepResult``.

        Raises ``TrainingDiverged`` when the loss is not finite; the weights then stay as they
        were before the step and the history up to it is kept.
        """
        if self.diverged:
            raise TrainingDiverged(self.diverged)
        if self.finished:
            raise RuntimeError(f"the run has finished its {self.config.epochs} epochs: raise epochs or reset")
        if self.step_in_epoch == 0:
            self.order = epoch_order(self.shuffle_rng, len(self.y["train"]))
        B = self.config.batch_size
        idx = self.order[self.step_in_epoch * B : (self.step_in_epoch + 1) * B]
        x, y = self.X["train"][idx], self.y["train"][idx]  # (B, D), (B,)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, probs = self.model.train_step(x, y)
        if not np.isfinite(loss):  # the backend skipped the update
            done = self.global_step
            kept = f"the {done:,} step{'s' * (done != 1)} before it are kept" if done else "no step was kept"
            self.diverged = (
                f"Training diverged at step {done + 1:,} (epoch {self.epoch + 1}): the loss became {loss}; "
                f"{kept}. Lower the learning rate (now {self.config.lr:g}) and start again."
            )
            raise TrainingDiverged(self.diverged)
        self.step_in_epoch += 1
        self.global_step += 1
        self._loss_sum += loss * len(y)
        self._correct += int((probs.argmax(axis=1) == y).sum())
        self._seen += len(y)
        self.step_epoch.append(self.epoch + 1)
        self.step_loss.append(loss)
        if self.config.track_grad_norms:
            self._record_grad_norms()
        result = StepResult(self.epoch + 1, self.step_in_epoch, loss, False)
        if self.step_in_epoch == self.steps_per_epoch:
            self._end_epoch()
            result.epoch_done = True
        return result

    def _record_grad_norms(self):
        grads = self.model.last_grads()
        for l in range(1, self.n_layers + 1):  # layer l of step s at index (s − 1)·L + l − 1
            with np.errstate(over="ignore", invalid="ignore"):
                self.step_grad_norms.append(float(np.linalg.norm(grads[f"W{l}"])))

    def _end_epoch(self):
        self.epoch += 1
        self.step_in_epoch = 0
        val_loss, val_acc = self.evaluate("val")
        for split, loss, acc in (
            ("train", self._loss_sum / self._seen, self._correct / self._seen),
            ("validation", val_loss, val_acc),
        ):
            self.rows.append({"epoch": self.epoch, "split": split, "metric": "loss", "value": loss})
            self.rows.append({"epoch": self.epoch, "split": split, "metric": "accuracy", "value": acc})
        self._loss_sum = self._correct = self._seen = 0
        if val_acc > self.best["val_accuracy"]:
            self.best = {"val_accuracy": val_acc, "epoch": self.epoch, "weights": self.model.get_weights()}

    def run_epoch(self):
        """Steps until the current epoch ends; yields each ``StepResult``."""
        while True:
            result = self.step()
            yield result
            if result.epoch_done:
                return

    def epochs(self):
        """Runs the remaining epochs; yields the epoch number after each one."""
        while not self.finished:
            for _ in self.run_epoch():
                pass
            yield self.epoch

    def evaluate(self, split, weights=None):
        """(mean cross-entropy, accuracy) on ``split`` ("train", "val" or "test").

        With ``weights`` a separate model of the same backend is built from them: the trainer's own
        model is never touched, so this is safe while the run trains in another thread.
        """
        model = self.model
        if weights is not None:
            model = make_backend(self.config.backend, self.data.n_features, self.data.n_classes, self.config, weights)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logits = model.predict_logits(self.X[split])
            logp = log_softmax(logits.astype(np.float64))  # from the logits: no underflow to log 0
        y = self.y[split]
        if len(y) == 0:
            return float("nan"), float("nan")
        return float(-logp[np.arange(len(y)), y].mean()), float((logits.argmax(axis=1) == y).mean())

    def weights(self):
        """The current weights (and batch-norm buffers), copies in the common dict form."""
        return self.model.get_weights()

    def predict_proba(self, split):
        """Class probabilities (N, C) of the current weights on a split name ("train", "val", "test")
        or on an array of standardized inputs (N, D); batch norm in eval mode."""
        X = self.X[split] if isinstance(split, str) else np.asarray(split, dtype=self.X["train"].dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.model.predict_proba(X)

    def last_metrics(self):
        """The last finished epoch: {epoch, train_loss, train_accuracy, val_loss, val_accuracy}, or None."""
        if not self.rows:
            return None
        last = {(r["split"], r["metric"]): r["value"] for r in self.rows if r["epoch"] == self.epoch}
        return {
            "epoch": self.epoch,
            "train_loss": last["train", "loss"],
            "train_accuracy": last["train", "accuracy"],
            "val_loss": last["validation", "loss"],
            "val_accuracy": last["validation", "accuracy"],
        }

    @property
    def n_layers(self):
        """Weight layers L (hidden layers + the output layer)."""
        return len(self.config.hidden_dims) + 1

    def extend(self, epochs):
        """Train up to ``epochs`` epochs in all (more epochs continue the same run). Validated."""
        self.config = validate(self.config.replace(epochs=epochs), n_train=len(self.y["train"]))

    def test_metrics(self, best=None):
        """Loss and accuracy on the test set with the best-on-validation weights (``best``: a snapshot of
        ``self.best``, read once by callers in another thread)."""
        best = self.best if best is None else best
        loss, acc = self.evaluate("test", weights=best["weights"])
        return {
            "test_loss": loss,
            "test_accuracy": acc,
            "best_epoch": best["epoch"],
            "best_val_accuracy": best["val_accuracy"],
        }

    def history(self):
        """Per-epoch metrics, long form: columns epoch, split, metric, value."""
        return pd.DataFrame(self.rows, columns=["epoch", "split", "metric", "value"])

    def step_history(self):
        """Per-step mini-batch loss: columns step, epoch, loss."""
        n = len(self.step_loss)
        return pd.DataFrame(
            {
                "step": np.arange(1, n + 1),
                "epoch": np.fromiter(self.step_epoch, np.int64, n),
                "loss": np.fromiter(self.step_loss, np.float64, n),
            }
        )

    def grad_norms(self):
        """Per-step ‖∂L/∂W_l‖_F (when ``track_grad_norms``): columns step, layer, grad_norm."""
        L = self.n_layers
        n = len(self.step_grad_norms) // L
        return pd.DataFrame(
            {
                "step": np.repeat(np.arange(1, n + 1), L),
                "layer": np.tile(np.arange(1, L + 1), n),
                "grad_norm": np.fromiter(self.step_grad_norms, np.float64, n * L),
            }
        )

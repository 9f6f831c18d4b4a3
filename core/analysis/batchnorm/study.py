"""Batch norm's effect on training: the same network trained twice, without and with batch norm.

Both runs of a pair start from the same weights and see the same mini-batches. ``Trainer`` draws the
initial weights from ``default_rng(seed)`` layer by layer, W⁽¹⁾ first; a Linear layer draws only W
(its bias starts at 0 and is not drawn), and batch norm draws nothing (γ = 1, β = 0), so every W⁽ˡ⁾
is the same array in both runs. The only difference: without batch norm a hidden Linear has a bias
b = 0, with it the bias is left out and β = 0 takes its place. The batch order comes from
``default_rng(seed + 1)`` in both. What differs afterwards is batch norm's doing.

Every measurement runs in eval mode (batch norm with its running estimates, as at inference) on the
validation set. At epoch 0 the running estimates are still μ = 0, σ² = 1, so batch norm's output is
z / √(1 + ε) ≈ z and the two runs look alike; they part from the first epoch on.

Results are tidy (long-form) DataFrames; ``run`` is "without BN" or "with BN" (``RUNS``).
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from core.nn.mlp import MLP
from core.training.config import validate
from core.training.trainer import Trainer, TrainingDiverged

RUNS = ("without BN", "with BN")
MAX_STUDY_EPOCHS = 50  # epochs per run of a paired run (or of a sweep, core.analysis.batchnorm.experiments)
MAX_SNAPSHOTS = 8  # epochs at which histograms are recorded
MAX_VALUES = 50_000  # values kept per histogram (a seeded random subset beyond it)
DEAD = ("relu", "leaky_relu", "elu")  # a unit is dead when its input is ≤ 0 for every sample
SATURATED = {"tanh": lambda a: np.abs(a) > 0.99, "sigmoid": lambda a: (a < 0.01) | (a > 0.99)}


class StudyError(ValueError):
    """A batch-norm study that cannot run as asked; the message is one line a user can act on."""


def paired_configs(config):
    """(without, with): ``config`` with batch norm off and on, validated (one-line ``ConfigError`` otherwise)."""
    if not config.hidden_dims:
        raise StudyError("batch norm sits between a hidden Linear and its activation: add a hidden layer")
    return validate(replace(config, batch_norm=False)), validate(replace(config, batch_norm=True))


def train_subset(data, max_train=None, test=True):
    """``data`` with only its first ``max_train`` training samples (already shuffled; None keeps all) and,
    with ``test=False``, no test samples (a ``Trainer`` copies every split: CIFAR-10's test set is 250 MB)."""
    n = len(data.y_train) if max_train is None else min(max_train, len(data.y_train))
    k = len(data.y_test) if test else 0
    return replace(
        data, X_train=data.X_train[:n], y_train=data.y_train[:n], X_test=data.X_test[:k], y_test=data.y_test[:k]
    )


def snapshot_epochs(epochs):
    """Epochs worth a histogram for a run of ``epochs`` epochs: 0, 1, a quarter, a half and the end."""
    return tuple(sorted({0, 1, round(epochs / 4), round(epochs / 2), int(epochs)}))


def check_epochs(epochs):
    """Refuse (StudyError) a number of epochs outside 1 … MAX_STUDY_EPOCHS before anything trains."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not 1 <= epochs <= MAX_STUDY_EPOCHS:
        raise StudyError(f"a batch-norm study trains 1 to {MAX_STUDY_EPOCHS} epochs per run, got {epochs!r}")


def layer_values(weights, activation, X):
    """Eval-mode forward of ``X`` (N, D): [(u, a) per hidden layer], u what the activation receives
    (z, or batch norm's output) and a = f(u), both (N, H_l)."""
    mlp = MLP.from_weights(weights, activation).eval()
    with np.errstate(all="ignore"):
        mlp.logits(X)
    return list(zip(mlp.pre_activations, mlp.activations[1:]))


def unit_health(values, activation):
    """Dead and saturated fractions per hidden layer, from ``layer_values``.

    - "dead units" (ReLU, leaky ReLU, ELU): share of units whose input u is ≤ 0 for every sample. A dead
      ReLU outputs 0 for every sample and gets no gradient; leaky ReLU and ELU keep a small one.
    - "saturated units" (tanh, sigmoid): share of units saturated (|tanh| > 0.99, sigmoid < 0.01 or > 0.99)
      for every sample; f′ < 0.02 there, so almost no gradient passes.
    - "saturated values": share of all (sample, unit) values in that zone.

    Returns a long DataFrame: layer (1-based), measure, fraction. Other activations give no rows.
    """
    rows = []
    for l, (u, a) in enumerate(values, start=1):
        if activation in DEAD:
            rows.append((l, "dead units", float((u <= 0).all(axis=0).mean())))
        if activation in SATURATED:
            zone = SATURATED[activation](a)  # (N, H) bool; NaN counts as not saturated
            rows.append((l, "saturated units", float(zone.all(axis=0).mean())))
            rows.append((l, "saturated values", float(zone.mean())))
    return pd.DataFrame(rows, columns=["layer", "measure", "fraction"])


def health_summary(health):
    """The key figure of ``unit_health`` over training: per measure and run, the largest fraction in any hidden
    layer at the run's last recorded epoch. Returns a DataFrame: measure, run, epoch, layer, fraction."""
    last = health[health["epoch"] == health.groupby("run")["epoch"].transform("max")]
    top = last.loc[last.groupby(["measure", "run"], sort=False)["fraction"].idxmax()]
    return top[["measure", "run", "epoch", "layer", "fraction"]].reset_index(drop=True)


def kept_values(values):
    """``layer_values`` reduced to what a histogram needs: per layer, the finite values of u and of a as
    1-D float32 arrays, at most MAX_VALUES each (a seeded random subset beyond)."""
    rng = np.random.default_rng(0)
    out = []
    for pair in values:
        with np.errstate(over="ignore"):
            flat = [np.ravel(q).astype(np.float32) for q in pair]  # beyond float32's range → ∞, dropped next
        flat = [v[np.isfinite(v)] for v in flat]
        out.append([v if v.size <= MAX_VALUES else rng.choice(v, MAX_VALUES, replace=False) for v in flat])
    return out


QUANTITIES = ("pre-activation", "post-activation")  # u (z, or batch norm's output) and a = f(u)


def _cells(snapshots):
    """[((run, epoch), layer (1-based), quantity, values)] over ``snapshots``, values as ``kept_values``."""
    kept = {key: kept_values(layers) for key, layers in snapshots.items()}
    return [
        (key, l, quantity, pair[qi])
        for key, layers in kept.items()
        for l, pair in enumerate(layers, start=1)
        for qi, quantity in enumerate(QUANTITIES)
    ]


def histograms(snapshots, bins=30, by_run=False):
    """Histograms whose bin edges are SHARED by every epoch (and, unless ``by_run``, by both runs) of a
    (layer, quantity), so small multiples share their x axis and a drift shows as a move along it.

    Args:
        snapshots: {(run, epoch): [(u, a) per hidden layer]}, from ``layer_values`` or ``kept_values``.
        bins: bins per histogram; edges from the smallest to the largest finite value they share.
        by_run: edges per run instead (a run whose values stay small keeps readable bins).

    Returns a long DataFrame: run, epoch, layer, quantity ("pre-activation" u or "post-activation" a),
    bin_start, bin_end, count, share (count / values counted).
    """
    cells = _cells(snapshots)

    def group(key, l, q):  # the cells that share bin edges
        return key[0] if by_run else None, l, q

    pooled = {}
    for key, l, q, v in cells:
        pooled.setdefault(group(key, l, q), []).append(v)
    edges = {}
    for g, vs in pooled.items():
        v = np.concatenate(vs)
        lo, hi = (float(v.min()), float(v.max())) if v.size else (-1.0, 1.0)
        lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-12 else (lo, hi)
        edges[g] = np.linspace(lo, hi, bins + 1)  # (bins + 1,)
    frames = []
    for (run, epoch), l, q, v in cells:
        e = edges[group((run, epoch), l, q)]
        c, _ = np.histogram(v, e)
        frames.append(
            pd.DataFrame(
                {
                    "run": run,
                    "epoch": epoch,
                    "layer": l,
                    "quantity": q,
                    "bin_start": e[:-1],
                    "bin_end": e[1:],
                    "count": c,
                    "share": c / max(v.size, 1),
                }
            )
        )
    cols = ["run", "epoch", "layer", "quantity", "bin_start", "bin_end", "count", "share"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def moments(snapshots):
    """Mean and standard deviation of each histogram's values: run, epoch, layer, quantity, mean, std, n."""
    rows = [
        {
            "run": run,
            "epoch": epoch,
            "layer": l,
            "quantity": q,
            "mean": float(v.mean(dtype=np.float64)) if v.size else np.nan,
            "std": float(v.std(dtype=np.float64)) if v.size else np.nan,
            "n": int(v.size),
        }
        for (run, epoch), l, q, v in _cells(snapshots)
    ]
    return pd.DataFrame(rows, columns=["run", "epoch", "layer", "quantity", "mean", "std", "n"])


def train_to_end(trainer, on_epoch=None, tick=None):
    """Train to the end; ``on_epoch(epoch)`` after every epoch, ``tick()`` too (and once for each epoch a
    diverged run never trains, so progress still reaches its total). Returns the divergence message, or None."""
    try:
        for epoch in trainer.epochs():
            if on_epoch:
                on_epoch(epoch)
            if tick:
                tick()
    except TrainingDiverged as e:
        for _ in range(trainer.config.epochs - trainer.epoch if tick else 0):
            tick()
        return str(e)
    return None


def progress_ticker(progress, total):
    """A tick() that reports (done, total) to ``progress`` after each unit of work."""
    done = [0]

    def tick():
        done[0] += 1
        if progress:
            progress(min(done[0], total), total)

    return tick


@dataclass(frozen=True)
class PairedRuns:
    """Two runs from identical initial weights and batch order, without and with batch norm."""

    history: pd.DataFrame  # run, epoch, split ("train", "validation"), metric ("loss", "accuracy"), value
    health: pd.DataFrame  # run, epoch, layer, measure, fraction (``unit_health`` at every epoch, 0 included)
    histograms: pd.DataFrame  # ``histograms`` at ``epochs``, bin edges shared by both runs
    histograms_per_run: pd.DataFrame  # the same with bin edges per run
    moments: pd.DataFrame  # ``moments`` at ``epochs``
    initial: dict  # run → initial weights (common dict form)
    final: dict  # run → weights at the end (or before divergence)
    diverged: dict  # run → the divergence message, or None
    epochs: tuple  # snapshot epochs that either run reached (a diverged run has none after it diverged)
    configs: dict  # run → its TrainConfig


def paired_runs(data, config, epochs=None, snapshots=None, bins=30, max_train=None, progress=None):
    """Train ``config`` twice, without and with batch norm, and record what batch norm changes.

    Args:
        data: a ``core.data.Dataset``; measurements on its validation set.
        config: a ``TrainConfig`` (its ``batch_norm`` is ignored); ``epochs`` overrides its epochs.
        snapshots: epochs at which to record histograms (default ``snapshot_epochs``); 0 is the start.
        bins: histogram bins; max_train: use only the first max_train training samples.
        progress: called as progress(done, total) after each epoch of either run.

    Returns a ``PairedRuns``. A run that diverges stops there; ``diverged`` says so, the rest is kept.
    Raises StudyError (or ``ConfigError``) with a one-line reason before training anything.
    """
    epochs = config.epochs if epochs is None else epochs
    check_epochs(epochs)
    snapshots = snapshot_epochs(epochs) if snapshots is None else tuple(sorted({int(e) for e in snapshots}))
    if len(snapshots) > MAX_SNAPSHOTS or not all(0 <= e <= epochs for e in snapshots):
        raise StudyError(f"histograms at up to {MAX_SNAPSHOTS} epochs between 0 and {epochs}, got {list(snapshots)}")
    data = train_subset(data, max_train, test=False)
    configs = dict(zip(RUNS, paired_configs(replace(config, epochs=epochs))))
    tick = progress_ticker(progress, 2 * epochs)
    activation, X = config.activation, data.X_val
    out = {"history": [], "health": [], "snap": {}, "initial": {}, "final": {}, "diverged": {}}
    for run, run_config in configs.items():
        trainer = Trainer(data, run_config)

        def record(epoch, trainer=trainer, run=run):
            values = layer_values(trainer.weights(), activation, X)
            out["health"].append(unit_health(values, activation).assign(run=run, epoch=epoch))
            if epoch in snapshots:
                out["snap"][run, epoch] = kept_values(values)  # small: the full arrays are dropped

        record(0)
        out["diverged"][run] = train_to_end(trainer, record, tick)
        out["history"].append(trainer.history().assign(run=run))
        out["initial"][run], out["final"][run] = trainer.init_weights, trainer.weights()
    snaps = out["snap"]
    cat = lambda frames, cols: pd.concat(frames, ignore_index=True)[cols]  # noqa: E731
    return PairedRuns(
        history=cat(out["history"], ["run", "epoch", "split", "metric", "value"]),
        health=cat(out["health"], ["run", "epoch", "layer", "measure", "fraction"]),
        histograms=histograms(snaps, bins),
        histograms_per_run=histograms(snaps, bins, by_run=True),
        moments=moments(snaps),
        initial=out["initial"],
        final=out["final"],
        diverged=out["diverged"],
        epochs=tuple(sorted({e for _, e in snaps})),
        configs=configs,
    )


def start_difference(initial):
    """max |W⁽ˡ⁾ without − W⁽ˡ⁾ with| over every layer (0.0 when both runs start alike), and the biases
    without batch norm (max |b|, 0.0 at the start): what the with-BN run replaces by β."""
    a, b = (initial[run] for run in RUNS)
    dW = max(float(np.max(np.abs(a[k] - b[k]))) for k in a if k.startswith("W"))
    hidden_b = [k for k in a if k.startswith("b") and k not in b]
    return dW, max((float(np.max(np.abs(a[k]))) for k in hidden_b), default=0.0)

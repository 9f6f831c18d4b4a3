"""Command-line training: python -m core.train --dataset digits --backend numpy (or python core/train.py …)

Defaults are the course assignment's recipe (1×128 ELU, SGD lr 0.1, batch 128, 10 epochs,
seed 42) on the embedded 8×8 digits; every default and help text of a training option comes from
``core.training.config.TrainConfig``. The last line printed is ``test accuracy: 0.XXXX``.
"""

import argparse
import math
import sys
from dataclasses import fields
from pathlib import Path

if not __package__:  # run as a file (python core/train.py): the repository root is not on the path yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.training.config import (  # noqa: E402
    BACKENDS,
    DEFAULTS,
    DTYPES,
    FIELD_HELP,
    MAX_BATCH_SIZE,
    MAX_WIDTH,
    ConfigError,
    TrainConfig,
    validate,
)

EXPLODING = 10.0  # an epoch's train loss above EXPLODING × log(C) is flagged: the run is blowing up


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump: the message says what is wrong
        self.exit(2, f"error: {message} (see --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every default shown, except where there is none (None) or the help text says it already."""

    def _get_help_string(self, action):
        if action.default is None or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _widths(text):
    """Hidden widths from "128", "16,16" or "16 16" (each also valid after nargs splitting)."""
    try:
        return [int(w) for w in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers, e.g. 16 16 or 16,16") from None


def parse_args(argv=None):
    from core.data import DATA_DIR, DATASETS
    from core.nn.activations import ACTIVATIONS
    from core.nn.optim import OPTIMIZERS

    p = _Parser(
        prog="python -m core.train",
        formatter_class=_Help,
        description=__doc__.splitlines()[0].split(": ")[0] + ". The course recipe on the embedded digits "
        "by default; the last line printed is 'test accuracy: 0.XXXX'.",
        epilog=f"Limits: up to 12 hidden layers of {MAX_WIDTH:,} units and batches of {MAX_BATCH_SIZE:,} "
        "(the app offers smaller ones so that every click answers within a second).",
    )
    h = FIELD_HELP
    choice = {"type": str.lower}  # choices are case-insensitive: --activation ReLU works
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULTS.backend, help=h["backend"], **choice)
    p.add_argument("--dataset", choices=DATASETS, default="digits", help="data set", **choice)
    p.add_argument(
        "--data-dir", default=None, help="where the MNIST / CIFAR-10 files are (default: data/ in the repository)"
    )
    p.add_argument("--download", action="store_true", help="download MNIST / CIFAR-10 if missing (needs the network)")
    default_widths = " ".join(map(str, DEFAULTS.hidden_dims))
    p.add_argument(
        "--hidden-dims",
        type=_widths,
        nargs="*",
        default=argparse.SUPPRESS,
        help=f"{h['hidden_dims']}, e.g. 256 128 or 256,128 (default: {default_widths})",
    )
    p.add_argument(
        "--activation", choices=list(ACTIVATIONS), default=DEFAULTS.activation, help=h["activation"], **choice
    )
    p.add_argument("--batch-norm", action="store_true", help=h["batch_norm"])
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer, help=h["optimizer"], **choice)
    for name in ("lr", "momentum", "weight_decay"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(DEFAULTS, name), help=h[name])
    for name in ("batch_size", "epochs", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(DEFAULTS, name), help=h[name])
    p.add_argument("--dtype", choices=DTYPES, default=DEFAULTS.dtype, help=h["dtype"], **choice)
    p.add_argument("--n-samples", type=int, default=400, help="toy sets: number of points")
    p.add_argument("--noise", type=float, default=0.1, help="toy sets: noise level")
    p.add_argument("--out", default=None, help="folder for history.csv, metrics.json and weights.npz (default: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (the epoch lines and the result still print)")
    args = p.parse_args(argv)
    args.data_dir = args.data_dir or DATA_DIR
    groups = getattr(args, "hidden_dims", [list(DEFAULTS.hidden_dims)])
    args.hidden_dims = [w for group in groups for w in group]  # "16 16", "16,16" and "16, 16" alike
    return args


def config_from_args(args):
    """The ``TrainConfig`` the arguments name (every TrainConfig field has an argument, or its default)."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values["hidden_dims"] = tuple(args.hidden_dims)
    return TrainConfig(**values)


def main(argv=None):
    args = parse_args(argv)
    config = config_from_args(args)
    try:
        validate(config)
        from core.data import DatasetError, load_dataset
        from core.data.toy import check_toy_args

        try:
            check_toy_args(args.n_samples, args.noise)
            if args.out:
                Path(args.out).mkdir(parents=True, exist_ok=True)  # fail now, not after training
        except OSError as e:
            raise ConfigError(f"cannot write results to {args.out} ({e.strerror})") from e
        except DatasetError as e:
            raise ConfigError(str(e)) from e
        try:
            data = load_dataset(
                args.dataset,
                data_dir=args.data_dir,
                n_samples=args.n_samples,
                noise=args.noise,
                seed=args.seed,
                download=args.download,
            )
        except DatasetError as e:
            raise ConfigError(str(e)) from e
        return run(data, config, args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def epoch_line(trainer):
    """One line per epoch; a loss far above a guess's log(C) is flagged rather than printed as a result."""
    last = trainer.last_metrics()
    line = (
        f"epoch {last['epoch']:3d}  train loss {last['train_loss']:.4g}  train acc {last['train_accuracy']:.4f}  "
        f"val acc {last['val_accuracy']:.4f}"
    )
    if last["train_loss"] > EXPLODING * math.log(trainer.data.n_classes):
        line += "  (the loss is exploding: lower the learning rate)"
    return line


def run(data, config, args):
    from tqdm import tqdm

    from core.training.runs import save_run
    from core.training.trainer import Trainer, TrainingDiverged

    trainer = Trainer(data, config)
    bn = " + batch norm" if config.batch_norm else ""
    print(
        f"{data.summary()}; {config.backend} {config.dtype}, hidden {list(config.hidden_dims)} {config.activation}{bn}"
    )
    bar = tqdm(total=config.epochs * trainer.steps_per_epoch, unit="step", disable=args.quiet, file=sys.stderr)
    try:
        while not trainer.finished:
            for _ in trainer.run_epoch():
                bar.update(1)
            bar.write(epoch_line(trainer))
    except TrainingDiverged as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    bar.close()
    metrics = trainer.test_metrics()
    if args.out:
        print(f"saved to {save_run(args.out, trainer, metrics)}")
    print(f"best validation accuracy {metrics['best_val_accuracy']:.4f} at epoch {metrics['best_epoch']}")
    print(f"test accuracy: {metrics['test_accuracy']:.4f}")
    return 0 if math.isfinite(metrics["test_accuracy"]) else 1


if __name__ == "__main__":
    sys.exit(main())

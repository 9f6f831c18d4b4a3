"""Command-line training: ``python -m core.train --dataset digits --backend numpy``.

Defaults are the course assignment's recipe (1×128 ELU, SGD lr 0.1, batch 128, 10 epochs,
seed 42) on the embedded 8×8 digits. The last line printed is ``test accuracy: 0.XXXX``.
"""

import argparse
import math
import sys
from pathlib import Path

from core.training.config import BACKENDS, DTYPES, ConfigError, TrainConfig, validate


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump: the message says what is wrong
        self.exit(2, f"error: {message} (see --help)\n")


def parse_args(argv=None):
    from core.data import DATA_DIR, DATASETS
    from core.nn.activations import ACTIVATIONS
    from core.nn.optim import OPTIMIZERS

    p = _Parser(prog="python -m core.train", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=BACKENDS, default="numpy")
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument(
        "--data-dir", default=DATA_DIR, help="where MNIST / CIFAR-10 files are (default: the repository's data/)"
    )
    p.add_argument("--download", action="store_true", help="download MNIST / CIFAR-10 if missing (needs network)")
    p.add_argument("--hidden-dims", type=int, nargs="*", default=[128], help="hidden widths, e.g. 256 128")
    p.add_argument("--activation", choices=list(ACTIVATIONS), default="elu")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dtype", choices=DTYPES, default="float32")
    p.add_argument("--n-samples", type=int, default=400, help="toy sets: number of points")
    p.add_argument("--noise", type=float, default=0.1, help="toy sets: noise level")
    p.add_argument("--out", default=None, help="directory for history.csv, metrics.json and weights.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config = TrainConfig(
        hidden_dims=tuple(args.hidden_dims), activation=args.activation, optimizer=args.optimizer,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size,
        epochs=args.epochs, seed=args.seed, backend=args.backend, dtype=args.dtype,
    )  # fmt: skip
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
            data = load_dataset(args.dataset, data_dir=args.data_dir, n_samples=args.n_samples,
                                noise=args.noise, seed=args.seed, download=args.download)  # fmt: skip
        except DatasetError as e:
            raise ConfigError(str(e)) from e
        return run(data, config, args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run(data, config, args):
    from tqdm import tqdm

    from core.training.runs import save_run
    from core.training.trainer import Trainer, TrainingDiverged

    trainer = Trainer(data, config)
    print(f"{data.summary()}; {config.backend} {config.dtype}, hidden {list(config.hidden_dims)} {config.activation}")
    bar = tqdm(total=config.epochs * trainer.steps_per_epoch, unit="step", disable=args.quiet, file=sys.stderr)
    try:
        while not trainer.finished:
            for _ in trainer.run_epoch():
                bar.update(1)
            h = trainer.history()
            last = h[h.epoch == trainer.epoch].set_index(["split", "metric"]).value
            bar.write(
                f"epoch {trainer.epoch:3d}  train loss {last['train', 'loss']:.4f}  "
                f"train acc {last['train', 'accuracy']:.4f}  val acc {last['validation', 'accuracy']:.4f}"
            )
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

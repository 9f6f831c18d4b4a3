"""``python -m core.train``: defaults, outputs, and one-line errors for bad arguments."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "core.train", "--quiet", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_defaults_on_digits_reach_the_target(backend, tmp_path):
    out = cli("--backend", backend, "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ")
    assert float(last.split(": ")[1]) >= 0.94
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["lr"] == 0.1 and metrics["config"]["hidden_dims"] == [128]
    assert metrics["config"]["epochs"] == 10 and metrics["config"]["seed"] == 42
    assert (tmp_path / "history.csv").read_text().startswith("epoch,split,metric,value")
    assert (tmp_path / "weights.npz").stat().st_size > 64 * 128 * 4


@pytest.mark.parametrize(
    "args, words",
    [
        (["--lr", "0"], "learning rate"),
        (["--lr", "-1"], "learning rate"),
        (["--lr", "inf"], "learning rate"),
        (["--hidden-dims", "0"], "hidden width"),
        (["--batch-size", "0"], "batch size"),
        (["--dataset", "imagenet"], "invalid choice"),
        (["--activation", "swish"], "invalid choice"),
        (["--dataset", "mnist", "--data-dir", "no-such-dir"], "train-images-idx3-ubyte.gz"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(args, words):
    out = cli(*args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]


def test_divergence_exits_with_the_message():
    out = cli(
        "--dataset", "moons", "--lr", "10", "--hidden-dims", "64", "64", "--activation", "relu", "--batch-size", "4"
    )
    assert out.returncode == 1 and "diverged at step" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--optimizer", "nesterov", "--momentum", "0", "--backend", "torch"], "Nesterov"),
        (["--noise", "5"], "noise"),
        (["--n-samples", "3"], "n_samples"),
    ],
)
def test_more_bad_arguments_exit_before_training(args, words):
    out = cli(*args)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and words in lines[0], out.stderr


def test_out_pointing_at_a_file_fails_before_training(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("")
    out = cli("--out", str(target))
    assert out.returncode == 2 and "cannot write results" in out.stderr and "Traceback" not in out.stderr
    assert "epoch" not in out.stdout  # nothing was trained


def test_runs_from_any_folder(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "core.train", "--quiet", "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert out.returncode == 0, out.stderr


def test_help_shows_every_default_in_plain_text():
    from core.training.config import DEFAULTS, TrainConfig

    out = subprocess.run([sys.executable, "-m", "core.train", "--help"], capture_output=True, text=True, timeout=60)
    text = " ".join(out.stdout.split())  # argparse wraps lines
    assert out.returncode == 0 and "``" not in text  # plain text, no reStructuredText
    assert str(Path(__file__).resolve().parents[1]) not in text  # no machine path as a default
    for option, default in [
        ("--lr", DEFAULTS.lr),
        ("--epochs", DEFAULTS.epochs),
        ("--seed", DEFAULTS.seed),
        ("--batch-size", DEFAULTS.batch_size),
        ("--dtype", DEFAULTS.dtype),
        ("--optimizer", DEFAULTS.optimizer),
        ("--activation", DEFAULTS.activation),
    ]:
        section = text.split(option, 2)[2]  # after the usage line
        assert f"(default: {default})" in section.split(" --")[0], option
    assert "(default: 128)" in text and "--batch-norm" in text and "--quiet" in text
    assert len(TrainConfig.__dataclass_fields__) == 13  # a new field needs a CLI option and this test


@pytest.mark.parametrize("widths", [["16,16"], ["16", "16"], ["16,", "16"]])
def test_hidden_dims_as_list_or_comma_separated_and_choices_in_any_case(widths):
    out = cli(
        "--dataset",
        "moons",
        "--epochs",
        "1",
        "--hidden-dims",
        *widths,
        "--activation",
        "ReLU",
        "--optimizer",
        "ADAM",
        "--batch-norm",
    )
    assert out.returncode == 0, out.stderr
    assert "hidden [16, 16] relu + batch norm" in out.stdout


def test_an_exploding_loss_is_flagged_not_printed_as_a_result():
    from types import SimpleNamespace

    from core.train import epoch_line

    metrics = {"epoch": 3, "train_loss": 3.7e25, "train_accuracy": 0.5, "val_accuracy": 0.5}
    trainer = SimpleNamespace(last_metrics=lambda: metrics, data=SimpleNamespace(n_classes=2))
    assert "exploding" in epoch_line(trainer) and "3.7e+25" in epoch_line(trainer)
    metrics["train_loss"] = 0.4
    assert "exploding" not in epoch_line(trainer)


def test_the_cli_also_runs_as_a_file_from_any_folder(tmp_path):
    script = Path(__file__).resolve().parents[1] / "core" / "train.py"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # as a newcomer's shell has it
    out = subprocess.run(
        [sys.executable, str(script), "--quiet", "--epochs", "1", "--dataset", "moons"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("test accuracy: ")

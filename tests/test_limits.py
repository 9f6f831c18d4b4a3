"""Resource limits: enforced in core before memory is allocated, and stated in the UI.

Each limit gets a value just over it, which core refuses with its one-line message, and where it
matters a value far over it: arrays that are never materialized (zero-stride views of terabytes), so
a check made after the allocation could not pass. The UI states each limit where its control is,
never offering more than core accepts.
"""

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from core.analysis.backend_compare import MAX_REPS, MAX_SAMPLES, MAX_STEPS, CompareError, compare_backends, time_epochs
from core.analysis.batchnorm.experiments import MAX_RATES, lr_sensitivity
from core.analysis.batchnorm.study import MAX_STUDY_EPOCHS, StudyError, paired_runs
from core.analysis.checkpointing import memory as ckpt
from core.analysis.checkpointing.sweeps import depth_sweep, k_sweep
from core.analysis.curvature.hessian import (
    MAX_FULL_PARAMETERS,
    MAX_LANCZOS_STEPS,
    HessianError,
    HessianLimitError,
    LossHessian,
    spectral_density,
)
from core.analysis.curvature.hessian import MAX_PARAMETERS as HESSIAN_MAX_PARAMETERS
from core.analysis.curvature.hessian import MAX_SAMPLES as HESSIAN_MAX_SAMPLES
from core.analysis.curvature.trajectories import MAX_STEPS as PATH_MAX_STEPS
from core.analysis.curvature.trajectories import TrajectoryError, trajectories
from core.analysis.jacobians.modules import MAX_ENTRIES, JacobianError, module_jacobian
from core.data import DatasetError, load_csv, load_dataset
from core.data.csv import MAX_BYTES, MAX_COLUMNS, MAX_ROWS
from core.data.splits import Dataset
from core.links import CHOICES, LR_STEPS, UI_LIMITS
from core.nn.batchnorm import BatchNormModule
from core.training.config import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_HIDDEN_LAYERS,
    MAX_LR,
    MAX_PARAMETERS,
    MAX_WIDTH,
    ConfigError,
    TrainConfig,
    n_parameters,
    validate,
)
from core.training.config import MAX_STEPS as RUN_MAX_STEPS
from core.training.runs import MAX_UNPACKED_BYTES, RunFileError, read_run
from core.training.trainer import Trainer
from tests.page_testing import open_app, open_page, unescaped

SMALL = 2**20  # bytes: what a refusal may allocate at most (the refused work would take far more)
MOONS = load_dataset("moons", n_samples=100, noise=0.2, seed=0)


def refused(error, message, call, *args, **kwargs):
    """Call, expect ``error`` with exactly ``message`` (one line), allocating under SMALL bytes meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as caught:
            call(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == message and "\n" not in message
    assert peak < SMALL, f"{peak:,} bytes allocated before the refusal"


def huge(*shape):
    """An array of ``shape`` that takes no memory (every entry is the same 0.0)."""
    return np.broadcast_to(np.zeros(()), shape)


def fake_data(n_train, n_features, n_classes=2):
    """A Dataset with ``n_train`` training samples of ``n_features`` zeros, none of them in memory."""
    y = np.broadcast_to(np.arange(n_classes), (n_train // n_classes + 1, n_classes)).reshape(-1)[:n_train]
    small = (huge(4, n_features), np.arange(4) % n_classes)
    return Dataset(
        "fake",
        huge(n_train, n_features),
        y,
        *small,
        *small,
        n_classes,
        ["a", "b"][:n_classes],
        None,
        np.zeros(n_features),
        np.ones(n_features),
    )


# ---- the network and the run: core.training.config, checked by every Trainer ----


@pytest.mark.parametrize(
    "over, at_limit, message",
    [
        ({"hidden_dims": (4,) * 13}, {"hidden_dims": (4,) * MAX_HIDDEN_LAYERS}, "at most 12 hidden layers, got 13"),
        (
            {"hidden_dims": (1025,)},
            {"hidden_dims": (MAX_WIDTH,)},
            "each hidden width must be a whole number from 1 to 1024, got [1025]",
        ),
        ({"epochs": 501}, {"epochs": MAX_EPOCHS}, "epochs must be a whole number from 1 to 500, got 501"),
        (
            {"batch_size": 65_537},
            {"batch_size": MAX_BATCH_SIZE},
            "batch size must be a whole number from 1 to 65,536, got 65537",
        ),
        ({"lr": 10.01}, {"lr": MAX_LR}, "learning rate must be a finite number in (0, 10], got 10.01"),
    ],
)
def test_a_run_just_over_a_limit_is_refused_before_its_weights_exist(over, at_limit, message):
    refused(ConfigError, message, Trainer, MOONS, TrainConfig(**over))
    validate(TrainConfig(**at_limit))  # the limit itself is allowed


def widest_last_layer(n_inputs, n_classes):
    """Hidden widths whose parameter count is just over MAX_PARAMETERS (one unit fewer fits)."""
    dims = (MAX_WIDTH,) * 5
    w = next(w for w in range(1, MAX_WIDTH + 1) if n_parameters(n_inputs, (*dims, w), n_classes) > MAX_PARAMETERS)
    return (*dims, w)


def test_a_network_just_over_the_parameter_limit_is_refused_before_its_weights_exist():
    dims = widest_last_layer(2, 2)
    p = n_parameters(2, dims, 2)
    assert n_parameters(2, (*dims[:-1], dims[-1] - 1), 2) <= MAX_PARAMETERS < p  # just over: 40 MB of weights
    message = (
        f"this network has {p:,} parameters, more than the limit of 5,000,000: use fewer or narrower hidden layers"
    )
    refused(ConfigError, message, Trainer, MOONS, TrainConfig(hidden_dims=dims))


def test_a_finished_run_cannot_be_extended_past_the_epoch_limit():
    trainer = Trainer(MOONS, TrainConfig(hidden_dims=(4,), epochs=1))
    refused(ConfigError, "epochs must be a whole number from 1 to 500, got 501", trainer.extend, MAX_EPOCHS + 1)
    assert trainer.config.epochs == 1


def test_a_run_over_the_step_limit_is_refused_before_it_trains_and_when_extended():
    # a training split of 4,000 samples at batch size 1: 4,000 steps an epoch
    assert RUN_MAX_STEPS == 250_000
    data = Dataset(**{**MOONS.__dict__, "X_train": np.zeros((4000, 2)), "y_train": np.arange(4000) % 2})
    message = "63 epochs of 4,000 mini-batches are 252,000 steps, more than the limit of 250,000: use a larger "
    refused(ConfigError, message + "batch size or fewer epochs", Trainer, data, TrainConfig(batch_size=1, epochs=63))
    trainer = Trainer(data, TrainConfig(hidden_dims=(4,), batch_size=1, epochs=62))  # 248,000 steps: allowed
    refused(ConfigError, message + "batch size or fewer epochs", trainer.extend, 63)
    assert trainer.config.epochs == 62


def test_a_long_run_keeps_its_step_history_compact():
    trainer = Trainer(MOONS, TrainConfig(hidden_dims=(4, 4), batch_size=1, epochs=5, track_grad_norms=True))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in trainer.epochs():
        pass
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    steps = trainer.step_history()
    assert (
        len(steps) == 300
        and steps.step.tolist() == list(range(1, 301))
        and steps.epoch.iloc[[0, -1]].tolist() == [1, 5]
    )
    norms = trainer.grad_norms()
    assert len(norms) == 900 and norms.layer.tolist()[:4] == [1, 2, 3, 1] and norms.step.tolist()[:4] == [1, 1, 1, 2]
    assert grown < 300 * 200  # bytes a step: a dict a step (and one per layer) would take over 1 KB


# ---- samples and files ----


def test_a_toy_set_over_its_size_is_refused_before_its_points_exist():
    refused(
        DatasetError, "n_samples must be between 20 and 10,000, got 10001.", load_dataset, "moons", n_samples=10_001
    )
    refused(
        DatasetError, f"n_samples must be between 20 and 10,000, got {10**12}.", load_dataset, "moons", n_samples=10**12
    )


def test_a_csv_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as f:
        f.truncate(50 * 2**30)  # 50 GB on paper, no disk used: reading it would not end
    refused(DatasetError, "The file is larger than 5 MB (far more); use fewer rows or columns.", load_csv, path)
    blob = b"a,b\n" + b"1,x\n" * ((MAX_BYTES - 4) // 4) + b"\n"  # one byte over
    assert len(blob) == MAX_BYTES + 1
    with pytest.raises(DatasetError, match=r"^The file is larger than 5 MB \(5\.0 MB\); use fewer rows or columns\.$"):
        load_csv(blob)


def test_csv_rows_and_columns_just_over_their_limits_are_refused():
    header = ",".join(f"c{j}" for j in range(MAX_COLUMNS + 1))
    with pytest.raises(DatasetError, match=r"^Line 1 has 201 columns; at most 200 are allowed\.$"):
        load_csv((header + "\n" + ",".join(["1"] * (MAX_COLUMNS + 1)) + "\n").encode())
    rows = b"a,b\n" + b"1,x\n" * (MAX_ROWS + 1)
    with pytest.raises(DatasetError, match=r"^The file has more than 50,000 data rows \(line 50002\); use fewer\.$"):
        load_csv(rows)


def zip_declaring(n_bytes):
    """A small zip whose one member says it unpacks to ``n_bytes`` (as a zip bomb's directory does)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("weights.npz", b"x")
    raw = bytearray(buffer.getvalue())
    central = raw.index(b"PK\x01\x02")  # the central directory entry: uncompressed size at offset 24
    raw[central + 24 : central + 28] = struct.pack("<I", n_bytes)
    return bytes(raw)


def test_a_saved_run_that_unpacks_to_more_than_the_limit_is_refused_unread():
    assert zipfile.ZipFile(io.BytesIO(zip_declaring(MAX_UNPACKED_BYTES + 1))).infolist()[0].file_size > 256 * 2**20
    refused(
        RunFileError,
        "“run.zip” unpacks to more than 256 MB: refused.",
        read_run,
        "run.zip",
        zip_declaring(MAX_UNPACKED_BYTES + 1),
    )


def test_a_comparison_over_the_sample_limit_is_refused_before_its_data_is_copied():
    config = TrainConfig(hidden_dims=(4,), dtype="float32")  # a float32 copy of 60,001 × 1,000 would be 240 MB
    refused(
        CompareError,
        "at most 60,000 training samples, got 60,001",
        compare_backends,
        fake_data(MAX_SAMPLES + 1, 1000),
        config,
        1,
    )


# ---- the Hessian ----


def test_a_hessian_over_its_parameter_or_sample_limit_is_refused_before_torch_builds_anything():
    over = f"the Hessian is computed for at most 200,000 parameters, this network has {HESSIAN_MAX_PARAMETERS + 1:,}: "
    refused(
        HessianLimitError,
        over + "use fewer or narrower hidden layers",
        LossHessian,
        {"W1": huge(1, HESSIAN_MAX_PARAMETERS), "b1": huge(1)},
        "relu",
        huge(1, HESSIAN_MAX_PARAMETERS),
        np.zeros(1, dtype=int),
    )
    terabytes = f"the Hessian is computed for at most 200,000 parameters, this network has {10**12 + 10**6:,}: "
    refused(
        HessianLimitError,
        terabytes + "use fewer or narrower hidden layers",
        LossHessian,
        {"W1": huge(10**6, 10**6), "b1": huge(10**6)},
        "relu",
        huge(1, 10**6),
        np.zeros(1, dtype=int),
    )
    refused(
        HessianLimitError,
        "the Hessian's batch has at most 2,000 samples, got 2,001",
        LossHessian,
        {"W1": huge(2, 3), "b1": huge(2)},
        "relu",
        huge(HESSIAN_MAX_SAMPLES + 1, 3),
        np.zeros(HESSIAN_MAX_SAMPLES + 1, dtype=int),
    )


def small_hessian(hidden):
    """The loss Hessian of a 2 → hidden → 2 ReLU net on 4 samples; P = 5·hidden + 2."""
    rng = np.random.default_rng(0)
    weights = {
        "W1": rng.normal(size=(hidden, 2)),
        "b1": np.zeros(hidden),
        "W2": rng.normal(size=(2, hidden)),
        "b2": np.zeros(2),
    }
    return LossHessian(weights, "relu", rng.normal(size=(4, 2)), np.array([0, 1, 0, 1]))


def test_the_full_hessian_and_the_density_refuse_sizes_just_over_their_limits():
    H = small_hessian(400)
    assert H.size == MAX_FULL_PARAMETERS + 2 and small_hessian(399).size <= MAX_FULL_PARAMETERS
    message = "the full Hessian is built for at most 2,000 parameters, this network has 2,002: use top_eigenvalues"
    refused(HessianLimitError, message + " (Lanczos) instead", H.full)
    big = small_hessian(39_999)  # P = 199,997: its full Hessian would take 300 GB
    refused(
        HessianLimitError,
        "the full Hessian is built for at most 2,000 parameters, this network has 199,997: "
        "use top_eigenvalues (Lanczos) instead",
        big.full,
    )
    refused(
        HessianError,
        "the density needs at least 1 run and 2 to 100 Lanczos steps",
        spectral_density,
        H,
        n_steps=MAX_LANCZOS_STEPS + 1,
    )
    assert H.n_hvp == 0  # not one Hessian-vector product was computed


def test_a_jacobian_just_over_its_entry_limit_is_refused_before_it_is_built():
    bn = BatchNormModule(1001)  # in training mode over a batch of 2: (2·1001)² = 4,008,004 entries, 32 MB
    assert (2 * 1000) ** 2 <= MAX_ENTRIES < (2 * 1001) ** 2
    refused(
        JacobianError,
        "a Jacobian of more than 4,000,000 entries: use a smaller layer or batch",
        module_jacobian,
        bn,
        np.ones((2, 1001)),
    )


# ---- sweeps: checkpointing, learning rates, batch-norm studies, backends, optimizer paths ----


@pytest.mark.parametrize(
    "sizes, message",
    [
        ((ckpt.MAX_DEPTH + 1, 8, 8), "depth must be a whole number from 1 to 256, got 257"),
        ((8, ckpt.MAX_WIDTH + 1, 8), "width must be a whole number from 1 to 1024, got 1025"),
        ((8, 8, ckpt.MAX_BATCH + 1), "batch must be a whole number from 2 to 1024, got 1025"),
    ],
)
def test_a_checkpointing_sweep_just_over_a_size_is_refused(sizes, message):
    refused(ckpt.MeasurementError, message, depth_sweep, (2, sizes[0]), sizes[1], sizes[2], (None,), ("numpy",), 1)
    refused(
        ckpt.MeasurementError,
        "reps must be a whole number from 0 to 50, got 51",
        ckpt.check_sizes,
        8,
        8,
        8,
        reps=ckpt.MAX_REPS + 1,
    )


def test_a_checkpointing_sweep_whose_activations_would_pass_the_memory_limit_is_refused_unbuilt():
    width = batch = 1024
    depth = next(
        d for d in range(1, ckpt.MAX_DEPTH + 1) if ckpt.plain_activation_bytes(d, width, batch) > ckpt.MAX_PLAIN_BYTES
    )
    ckpt.check_sizes(depth - 1, width, batch)  # one layer fewer fits
    mb = ckpt.plain_activation_bytes(depth, width, batch) / 1e6
    message = (
        f"{depth} layers × 1024 units × 1024 samples would hold about {mb:,.0f} MB of activations without "
        "checkpointing (limit 512 MB): make the net or batch smaller"
    )
    refused(ckpt.MeasurementError, message, depth_sweep, (2, depth), width, batch, (None,), ("numpy",), 1)
    refused(
        ckpt.MeasurementError,
        message.replace(str(depth), "256", 1).replace(
            f"{mb:,.0f}", f"{ckpt.plain_activation_bytes(256, width, batch) / 1e6:,.0f}"
        ),
        k_sweep,
        256,
        width,
        batch,
    )


def test_learning_rate_sweeps_and_batch_norm_studies_over_their_sizes_train_nothing():
    trained = []
    config = TrainConfig(hidden_dims=(4,), epochs=1)
    rates = np.geomspace(1e-3, 1, MAX_RATES + 1)
    refused(
        StudyError,
        f"a sweep takes 1 to {MAX_RATES} learning rates, got 13",
        lr_sensitivity,
        MOONS,
        config,
        rates,
        1,
        progress=lambda *a: trained.append(a),
    )
    message = f"a batch-norm study trains 1 to {MAX_STUDY_EPOCHS} epochs per run, got 51"
    refused(
        StudyError,
        message,
        lr_sensitivity,
        MOONS,
        config,
        rates[:2],
        MAX_STUDY_EPOCHS + 1,
        progress=lambda *a: trained.append(a),
    )
    refused(
        StudyError,
        message,
        paired_runs,
        MOONS,
        config,
        epochs=MAX_STUDY_EPOCHS + 1,
        progress=lambda *a: trained.append(a),
    )
    assert trained == []


def test_backend_comparisons_and_optimizer_paths_over_their_lengths_are_refused():
    config = TrainConfig(hidden_dims=(4,), epochs=1)
    refused(
        CompareError,
        "steps must be a whole number from 1 to 2,000, got 2001",
        compare_backends,
        MOONS,
        config,
        MAX_STEPS + 1,
    )
    refused(
        CompareError,
        "repetitions must be a whole number from 1 to 10, got 11",
        time_epochs,
        MOONS,
        config,
        reps=MAX_REPS + 1,
    )
    refused(
        TrajectoryError,
        "the number of steps must be a whole number from 1 to 2000, got 2001",
        trajectories,
        None,
        (0.0, 0.0),
        ["gd"],
        0.1,
        PATH_MAX_STEPS + 1,
    )


# ---- what the UI offers and says ----


def test_the_ui_never_offers_more_than_core_accepts():
    assert UI_LIMITS["depth"][1] <= MAX_HIDDEN_LAYERS and UI_LIMITS["width"][1] <= MAX_WIDTH
    assert UI_LIMITS["epochs"][1] <= MAX_EPOCHS and UI_LIMITS["batch_size"][1] <= MAX_BATCH_SIZE
    assert UI_LIMITS["lr"][1] <= MAX_LR and max(LR_STEPS) <= MAX_LR
    assert 20 <= UI_LIMITS["n_samples"][0] and UI_LIMITS["n_samples"][1] <= 10_000
    widest = max(3 * 32 * 32, MAX_COLUMNS - 1)  # CIFAR-10's pixels, or a CSV's features
    largest = n_parameters(widest, (UI_LIMITS["width"][1],) * UI_LIMITS["depth"][1], 50, batch_norm=True)
    assert largest <= MAX_PARAMETERS  # every network the sidebar can build trains
    assert "csv" in CHOICES["dataset"]


def test_the_sidebar_states_its_limits_on_its_controls():
    sidebar = open_app().sidebar
    for key, help_text in {
        "w_depth": "0 to 8 hidden layers",
        "w_width": "1 to 512 units",
        "w_batch_size": "1 to 4,096 samples",
        "w_epochs": "1 to 500 passes",
    }.items():
        control = sidebar.number_input(key=key)
        assert (control.min, control.max) == UI_LIMITS[key.removeprefix("w_")]
        assert control.proto.help.startswith(help_text)
    assert (sidebar.slider(key="w_n_samples").min, sidebar.slider(key="w_n_samples").max) == UI_LIMITS["n_samples"]
    assert "Up to 8 hidden layers of up to 512 units each." in [c.value for c in sidebar.caption]
    assert "at most 250,000 mini-batch steps in all" in sidebar.number_input(key="w_epochs").proto.help


def test_a_link_to_a_run_over_the_step_limit_says_what_to_change():
    at = open_page("playground", dataset="moons", n_samples="5000", batch_size="1", epochs="500")
    assert [unescaped(e.value) for e in at.error] == [
        "**This run cannot be set up.** 500 epochs of 3,000 mini-batches are 1,500,000 steps, more than the limit "
        "of 250,000: use a larger batch size or fewer epochs"
    ]


def test_pages_state_their_core_limits_on_their_controls():
    at = open_app()  # the Batch norm page's address is not its file name: AppTest finds it after a first run
    epochs = at.switch_page("../pages/batchnorm.py").run().number_input(key="w_bn_epochs")
    assert epochs.max == MAX_STUDY_EPOCHS and epochs.value == 10
    steps = open_page("backends").number_input(key="w_cmp_steps")
    assert steps.max == MAX_STEPS and steps.proto.label == "Training steps (1 to 2,000)"
    hessian = open_page("hessian", dataset="digits", depth="8", width="512")  # 1.9 million parameters
    assert "the Hessian view handles up to 200,000" in hessian.info[0].value and not hessian.metric
    small = open_page("hessian")
    batch = small.number_input(key="w_hes_batch")
    assert batch.max == 240 and batch.proto.label == "Samples in the Hessian's batch (2 to 240)"  # min(2,000, N)

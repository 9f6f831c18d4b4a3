"""Data layer: toy sets, splits, digits, MNIST / CIFAR-10 parsers, downloads (no network)."""

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import core.data.download as download
from core.data import (
    DATASETS,
    IMAGE_DATASETS,
    TOY_DATASETS,
    DatasetError,
    load_cifar10_raw,
    load_dataset,
    load_digits_raw,
    load_mnist_raw,
    make_toy,
    read_idx,
)
from core.data.splits import fit_standardizer, standardize, stratified_split

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DIGITS_CSV = Path(__file__).resolve().parents[1] / "data" / "digits.csv.gz"


# ---------------------------------------------------------------- toy sets


def test_dataset_names():
    assert DATASETS == ("digits", "moons", "circles", "spiral", "xor", "blobs", "mnist", "cifar10")
    assert TOY_DATASETS == ("moons", "circles", "spiral", "xor", "blobs")
    assert IMAGE_DATASETS == ("digits", "mnist", "cifar10")


@pytest.mark.parametrize("name, K", [("moons", 2), ("circles", 2), ("spiral", 3), ("xor", 2), ("blobs", 3)])
def test_toy_shapes_dtypes_balanced(name, K):
    X, y = make_toy(name, n_samples=301, noise=0.1, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float64
    assert y.shape == (301,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == K and counts.max() - counts.min() <= 1
    assert np.abs(X).max() < 2.5
    assert not np.all(y[:-1] <= y[1:])  # shuffled, not sorted by class


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_seeded(name):
    X1, y1 = make_toy(name, seed=3)
    X2, y2 = make_toy(name, seed=3)
    X3, _ = make_toy(name, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


def test_moons_without_noise_lie_on_the_two_arcs():
    X, y = make_toy("moons", n_samples=200, noise=0.0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)  # centre (0, 0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)  # centre (1, 0.5)
    assert upper[:, 1].min() >= -1e-12 and lower[:, 1].max() <= 0.5 + 1e-12


def test_xor_labels_follow_the_signs():
    X, y = make_toy("xor", n_samples=400, noise=0.0)
    assert np.abs(X).max() <= 1.0
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


def test_circles_radii_and_blobs_spread():
    X, y = make_toy("circles", noise=0.0)
    np.testing.assert_allclose(np.hypot(*X[y == 1].T), 0.5)
    X, y = make_toy("blobs", n_samples=3000, noise=0.1)
    assert X[y == 0].std(axis=0) == pytest.approx([0.3, 0.3], rel=0.1)  # std = 3 * noise


@pytest.mark.parametrize("kwargs", [{"n_samples": 19}, {"n_samples": 10_001}, {"noise": -0.1}, {"noise": 2.5}])
def test_toy_rejects_bad_arguments(kwargs):
    with pytest.raises(DatasetError, match="must be between") as info:
        make_toy("moons", **kwargs)
    assert isinstance(info.value, ValueError)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(DatasetError, match="digits, moons, circles, spiral, xor, blobs, mnist, cifar10"):
        load_dataset("mnits")
    with pytest.raises(DatasetError, match="moons"):
        make_toy("moon")


# ---------------------------------------------------------------- splits and standardization


def test_stratified_split_sizes_disjoint_and_stratified():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    train, val, test = stratified_split(y, 100, 200, seed=1)
    assert (len(train), len(val), len(test)) == (700, 100, 200)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(1000))
    for idx in (train, val, test):
        expected = np.array([0.5, 0.3, 0.2]) * len(idx)
        assert np.abs(np.bincount(y[idx], minlength=3) - expected).max() <= 1
    again = stratified_split(y, 100, 200, seed=1)
    other = stratified_split(y, 100, 200, seed=2)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(np.sort(other[1]), np.sort(val))


def test_split_rejects_holding_out_everything():
    with pytest.raises(DatasetError):
        stratified_split(np.zeros(10, int), 5, 5)


def test_val_and_test_use_training_statistics():
    rng = np.random.default_rng(0)
    X_train = rng.normal(3.0, 2.0, size=(500, 4))
    X_val = rng.normal(13.0, 2.0, size=(100, 4))  # shifted by 5 training stds
    mean, std = fit_standardizer(X_train)
    Z_train, Z_val = standardize(X_train, mean, std), standardize(X_val, mean, std)
    np.testing.assert_allclose(Z_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z_train.std(axis=0), 1.0)
    assert Z_val.mean() == pytest.approx(5.0, abs=0.3)
    assert Z_val.std() == pytest.approx(1.0, abs=0.2)


def test_fit_standardizer_keeps_constant_features():
    X = np.column_stack([np.zeros(10), np.arange(10.0)])
    mean, std = fit_standardizer(X)
    assert std[0] == 1.0 and std[1] == pytest.approx(np.arange(10.0).std())
    assert np.isfinite(standardize(X, mean, std)).all()


def test_toy_dataset_split_and_standardization():
    d = load_dataset("spiral", n_samples=500, noise=0.2, seed=7)
    assert d.summary() == "spiral: 300 train / 100 val / 100 test, 2 features, 3 classes"
    assert d.image_shape is None and d.raw_scale == 1.0 and d.n_classes == 3
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.X_train.std(axis=0), 1.0)
    raw_train = d.to_raw(d.X_train)
    np.testing.assert_allclose(d.mean, raw_train.mean(axis=0))  # training statistics only
    assert not np.allclose(d.to_raw(d.X_val).mean(axis=0), d.mean, atol=1e-3)
    # the three parts are exactly the generated points, each once
    X, y = make_toy("spiral", n_samples=500, noise=0.2, seed=7)
    parts = np.concatenate([raw_train, d.to_raw(d.X_val), d.to_raw(d.X_test)])
    labels = np.concatenate([d.y_train, d.y_val, d.y_test])
    order, expected = np.lexsort(parts.T), np.lexsort(X.T)
    np.testing.assert_allclose(parts[order], X[expected])
    np.testing.assert_array_equal(labels[order], y[expected])
    for part in (d.y_train, d.y_val, d.y_test):
        assert np.abs(np.bincount(part) / len(part) - np.bincount(y) / len(y)).max() < 0.02


# ---------------------------------------------------------------- digits


def test_digits_raw():
    X, y = load_digits_raw()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_dataset():
    d = load_dataset("digits", seed=0)
    assert d.summary() == "digits: 1,257 train / 180 val / 360 test, 64 features, 10 classes"
    assert d.image_shape == (8, 8) and d.raw_scale == 16.0 and d.class_names[3] == "3"
    assert d.X_train.dtype == np.float64 and d.y_train.dtype == np.int64
    assert np.isfinite(d.X_train).all()
    assert (d.std == 1.0).sum() >= 1  # the blank corner pixel is floored, not divided by 0
    pixels = d.to_raw(d.X_test)
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-9)
    assert pixels.min() > -1e-9 and pixels.max() < 16 + 1e-9
    assert np.bincount(d.y_test).min() >= 35


def test_digits_checksum_and_missing_file(tmp_path):
    blob = bytearray(DIGITS_CSV.read_bytes())
    blob[-20] ^= 0xFF
    (tmp_path / "digits.csv.gz").write_bytes(bytes(blob))
    with pytest.raises(DatasetError, match="sha256"):
        load_digits_raw(tmp_path)
    with pytest.raises(DatasetError, match="digits.csv.gz"):
        load_digits_raw(tmp_path / "nowhere")


# ---------------------------------------------------------------- MNIST


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> None:
    """Write ``array`` in the IDX format; gzip it if the name ends in .gz."""
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    blob = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += big_endian.tobytes()
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)


def write_mnist(folder: Path, n_train=30, n_test=12, gz=True, seed=0):
    """Tiny MNIST files; the training set gzip'd, the test set raw unless ``gz``."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        np.arange(n_train, dtype=np.uint8) % 10,
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        np.arange(n_test, dtype=np.uint8)[::-1] % 10,
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, array) in enumerate(zip(MNIST_FILES, arrays, strict=True)):
        write_idx(folder / (name if gz or i < 2 else name.removesuffix(".gz")), array)
    return arrays


@pytest.mark.parametrize("name", ["a-idx3-ubyte.gz", "a-idx3-ubyte"])
def test_read_idx_round_trip(tmp_path, name):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, images)
    out = read_idx(tmp_path / name)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)
    ints = np.array([[-2, 300], [7, -30000]], dtype=np.int16)  # big-endian on disk
    write_idx(tmp_path / ("s" + name), ints, code=0x0B)
    np.testing.assert_array_equal(read_idx(tmp_path / ("s" + name)), ints)


def test_read_idx_rejects_wrong_byte_counts(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    write_idx(path, np.arange(10, dtype=np.uint8))
    good = path.read_bytes()
    for blob in (good[:-1], good + b"\0", good[:6], b"\1\0\x08\1" + good[4:]):
        path.write_bytes(blob)
        with pytest.raises(DatasetError, match="x-idx1-ubyte"):
            read_idx(path)
    gz = tmp_path / "x-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(good)[:-12])  # stream cut short
    with pytest.raises(DatasetError, match="x-idx1-ubyte.gz"):
        read_idx(gz)


def test_load_mnist_raw_gz_and_raw(tmp_path):
    arrays = write_mnist(tmp_path / "mnist", gz=False)
    assert (tmp_path / "mnist" / "t10k-images-idx3-ubyte").is_file()
    out = load_mnist_raw(tmp_path)
    for got, want in zip(out, arrays, strict=True):
        np.testing.assert_array_equal(got, want)
    assert out[0].dtype == np.uint8 and out[0].shape == (30, 28, 28)
    assert out[1].dtype == np.int64 and out[3].shape == (12,)


def test_load_mnist_raw_checks_truncation_and_counts(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-5]))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist_raw(tmp_path)
    write_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DatasetError, match="train-labels"):
        load_mnist_raw(tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(30, 10, np.uint8))
    with pytest.raises(DatasetError, match="0..9"):
        load_mnist_raw(tmp_path)


def test_missing_mnist_names_all_four_files(tmp_path):
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / MNIST_FILES[0], np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DatasetError) as info:
        load_mnist_raw(tmp_path)
    message = str(info.value)
    assert all(name in message for name in MNIST_FILES)
    assert str(tmp_path / "mnist") in message and "--download" in message


# ---------------------------------------------------------------- CIFAR-10

BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
RED = 200  # every red pixel of the fake images


def fake_cifar(n=4, seed=0):
    """Six batches of ``n`` images: red channel RED, green and blue random."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in BATCHES:
        X = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        X[:, :1024] = RED  # channel 0 comes first in each row
        batches.append((X, rng.integers(0, 10, n).tolist()))
    return batches


def write_cifar_python(folder: Path, batches, protocol=2):
    folder.mkdir(parents=True)
    for name, (X, labels) in zip(BATCHES, batches, strict=True):
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": X, b"filenames": [b"x.png"] * len(X)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))


def write_cifar_binary(folder: Path, batches):
    folder.mkdir(parents=True)
    for name, (X, labels) in zip(BATCHES, batches, strict=True):
        records = np.column_stack([np.array(labels, np.uint8), X])  # (n, 3073)
        (folder / (name + ".bin")).write_bytes(records.tobytes())


def check_cifar(out, batches):
    X_train, y_train, X_test, y_test = out
    n = len(batches[0][0])
    assert X_train.shape == (5 * n, 3, 32, 32) and X_train.dtype == np.uint8
    assert X_test.shape == (n, 3, 32, 32) and y_train.dtype == np.int64
    assert (X_train[:, 0] == RED).all() and (X_train[:, 1:] != RED).any()
    np.testing.assert_array_equal(X_train.reshape(5 * n, 3072), np.concatenate([X for X, _ in batches[:5]]))
    np.testing.assert_array_equal(y_train, np.concatenate([labels for _, labels in batches[:5]]))
    np.testing.assert_array_equal(X_test.reshape(n, -1), batches[5][0])
    np.testing.assert_array_equal(y_test, batches[5][1])


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_python_batches(tmp_path, protocol):
    batches = fake_cifar()
    write_cifar_python(tmp_path / "cifar-10-batches-py", batches, protocol)
    check_cifar(load_cifar10_raw(tmp_path), batches)


def test_truncated_python_batch_names_the_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_python(folder, fake_cifar())
    (folder / "data_batch_2").write_bytes((folder / "data_batch_2").read_bytes()[:5000])
    with pytest.raises(DatasetError, match="data_batch_2 cannot be read"):
        load_cifar10_raw(tmp_path)


def test_cifar_python_batches_written_by_numpy_1(tmp_path):
    batches = fake_cifar()
    write_cifar_python(tmp_path / "cifar-10-batches-py", batches)
    for path in (tmp_path / "cifar-10-batches-py").iterdir():  # the module name numpy 1.x wrote
        blob = path.read_bytes()
        assert b"numpy._core.multiarray" in blob
        path.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    check_cifar(load_cifar10_raw(tmp_path), batches)


class Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    batches = fake_cifar()
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_python(folder, batches)
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(f"touch {marker}")}, protocol=2))
    with pytest.raises(DatasetError) as info:
        load_cifar10_raw(tmp_path)
    assert not marker.exists()
    info.match(r"Refusing to load .*data_batch_3: it refers to (posix|nt).system")


def test_cifar_binary_batches(tmp_path):
    batches = fake_cifar(seed=1)
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar_binary(folder, batches)
    check_cifar(load_cifar10_raw(tmp_path), batches)
    path = folder / "test_batch.bin"
    good = path.read_bytes()
    path.write_bytes(good[:-1])
    with pytest.raises(DatasetError, match="test_batch.bin"):
        load_cifar10_raw(tmp_path)
    path.write_bytes(b"\x0a" + good[1:])  # label 10
    with pytest.raises(DatasetError, match=r"test_batch.bin.*0\.\.9"):
        load_cifar10_raw(tmp_path)
    path.unlink()
    with pytest.raises(DatasetError, match="test_batch.bin missing"):
        load_cifar10_raw(tmp_path)


def make_tarball(path: Path, source: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(source, arcname=source.name)


def test_cifar_tarball_is_extracted(tmp_path):
    batches = fake_cifar(seed=2)
    build = tmp_path / "build"
    write_cifar_python(build / "cifar-10-batches-py", batches)
    data = tmp_path / "data"
    data.mkdir()
    make_tarball(data / "cifar-10-python.tar.gz", build / "cifar-10-batches-py")
    check_cifar(load_cifar10_raw(data), batches)
    assert (data / "cifar-10-batches-py" / "test_batch").is_file()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_tar_members_are_rejected(tmp_path, kind):
    data = tmp_path / "data"
    data.mkdir()
    with tarfile.open(data / "cifar-10-python.tar.gz", "w:gz") as tar:
        ok = tarfile.TarInfo("cifar-10-batches-py/readme")
        tar.addfile(ok, io.BytesIO())
        evil = tarfile.TarInfo({"dotdot": "../evil", "absolute": str(tmp_path / "evil")}.get(kind, "link"))
        if kind == "symlink":
            evil.type, evil.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(evil)
        else:
            tar.addfile(evil, io.BytesIO(b"gotcha"))
    with pytest.raises(DatasetError, match="unsafe member"):
        load_cifar10_raw(data)
    assert not (tmp_path / "evil").exists() and not (data / "cifar-10-batches-py").exists()


def test_missing_cifar_names_folders_and_download(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_cifar10_raw(tmp_path)
    message = str(info.value)
    for part in ("cifar-10-batches-py", "cifar-10-batches-bin", "cifar-10-python.tar.gz", "test_batch", "--download"):
        assert part in message


# ---------------------------------------------------------------- load_dataset for image files


def test_load_dataset_mnist(tmp_path):
    arrays = write_mnist(tmp_path / "mnist")
    d = load_dataset("mnist", data_dir=tmp_path, seed=0)
    assert d.summary() == "mnist: 27 train / 3 val / 12 test, 784 features, 10 classes"  # val = 10% of 30
    assert d.image_shape == (28, 28) and d.raw_scale == 255.0
    assert d.X_train.mean() == pytest.approx(0.0, abs=1e-12) and d.X_train.std() == pytest.approx(1.0)
    assert np.ptp(d.mean) == 0 and np.ptp(d.std) == 0  # one mean and std for all pixels
    np.testing.assert_allclose(d.to_raw(d.X_test), arrays[2].reshape(12, 784), atol=1e-9)
    np.testing.assert_array_equal(d.y_test, arrays[3])
    assert sorted(np.concatenate([d.y_train, d.y_val]).tolist()) == sorted(arrays[1].tolist())


def test_load_dataset_cifar10_normalization(tmp_path):
    batches = fake_cifar(n=20)
    write_cifar_python(tmp_path / "cifar-10-batches-py", batches)
    d = load_dataset("cifar10", data_dir=tmp_path)
    assert d.summary() == "cifar10: 90 train / 10 val / 20 test, 3,072 features, 10 classes"
    assert d.image_shape == (3, 32, 32) and d.class_names[0] == "airplane"
    np.testing.assert_allclose(d.X_test[:, :1024], (RED / 255 - 0.491) / 0.247)  # red channel
    green = batches[5][0][0, 1024 + 37]
    assert d.X_test[0, 1024 + 37] == pytest.approx((green / 255 - 0.482) / 0.243)
    np.testing.assert_allclose(d.to_raw(d.X_test), batches[5][0], atol=1e-9)


# ---------------------------------------------------------------- downloads (network faked)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Replace ``download.fetch`` by a copy from a local folder; records (url, md5) per call."""
    source, calls = tmp_path / "server", []
    source.mkdir()

    def fake_fetch(url, dest, md5):
        calls.append((url, md5))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / url.rsplit("/", 1)[1], dest)

    monkeypatch.setattr(download, "fetch", fake_fetch)
    return source, calls


def test_load_dataset_downloads_mnist(tmp_path, served):
    source, calls = served
    arrays = write_mnist(source)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path / "data")
    assert calls == []
    d = load_dataset("mnist", data_dir=tmp_path / "data", download=True)
    np.testing.assert_allclose(d.to_raw(d.X_test), arrays[2].reshape(12, 784), atol=1e-9)
    assert [url for url, _ in calls] == ["https://ossci-datasets.s3.amazonaws.com/mnist/" + n for n in MNIST_FILES]
    assert calls[0][1] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    load_dataset("mnist", data_dir=tmp_path / "data", download=True)
    assert len(calls) == 4  # present files are not fetched again


def test_load_dataset_downloads_cifar10(tmp_path, served):
    source, calls = served
    batches = fake_cifar(seed=3)
    write_cifar_python(tmp_path / "build" / "cifar-10-batches-py", batches)
    make_tarball(source / "cifar-10-python.tar.gz", tmp_path / "build" / "cifar-10-batches-py")
    d = load_dataset("cifar10", data_dir=tmp_path / "data", download=True)
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]
    assert len(d.y_train) + len(d.y_val) == 20
    check_cifar(load_cifar10_raw(tmp_path / "data"), batches)


def fake_urlopen(payload: bytes | Exception):
    def urlopen(url, timeout):
        assert timeout > 0
        if isinstance(payload, Exception):
            raise payload
        return io.BytesIO(payload)

    return urlopen


def test_fetch_verifies_md5_and_renames(tmp_path, monkeypatch):
    payload = b"some bytes" * 1000
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(payload))
    dest = tmp_path / "sub" / "file.gz"
    with pytest.raises(DatasetError, match="expected 0123"):
        download.fetch("https://example.org/file.gz", dest, "0123" + "0" * 28)
    assert not dest.parent.exists()  # no partial file left behind, nor the folder made for it
    dest.parent.mkdir()
    (dest.parent / "other").write_bytes(b"kept")
    with pytest.raises(DatasetError, match="expected 0123"):
        download.fetch("https://example.org/file.gz", dest, "0123" + "0" * 28)
    assert [p.name for p in dest.parent.iterdir()] == ["other"]  # a folder that was there stays, with its files
    (dest.parent / "other").unlink()
    download.fetch("https://example.org/file.gz", dest, hashlib.md5(payload).hexdigest())
    assert dest.read_bytes() == payload and list(dest.parent.iterdir()) == [dest]


def test_download_failures_say_what_to_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(b"not mnist"))  # md5 mismatch
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=tmp_path, download=True)
    assert "md5" in str(info.value) and all(name in str(info.value) for name in MNIST_FILES)
    assert not (tmp_path / "mnist").exists()  # the folder the download made is gone with it
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(urllib.error.URLError("no network")))
    with pytest.raises(DatasetError, match=r"no network.*cifar-10-python.tar.gz .*by hand"):
        download.download_cifar10(tmp_path)
    with pytest.raises(DatasetError, match="'python' or 'binary'"):
        download.download_cifar10(tmp_path, fmt="png")


@pytest.mark.parametrize(
    "batch, words",
    [
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [[0], [1, 2], 3, 4], b"\xff": 1}, "malformed labels"),
        ({b"\xff\xfe": 1, b"labels": [0, 1]}, "uint8 array"),
    ],
)
def test_malformed_cifar_batches_raise_dataset_error(tmp_path, batch, words):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=words):
        load_cifar10_raw(tmp_path)


def test_too_few_training_images_is_a_clear_error(tmp_path):
    write_mnist(tmp_path / "mnist", n_train=9, n_test=3)
    with pytest.raises(DatasetError, match="at least 10"):
        load_dataset("mnist", data_dir=tmp_path)


def test_download_into_a_file_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match="Cannot create the folder"):
        download.fetch("https://example.invalid/x.gz", blocker / "mnist" / "x.gz", "0" * 32)


def test_files_present_looks_for_any_known_file(tmp_path):
    from core.data import files_present

    assert files_present("digits", tmp_path) and files_present("moons", tmp_path)
    assert not files_present("mnist", tmp_path) and not files_present("cifar10", tmp_path)
    write_mnist(tmp_path / "mnist")
    (tmp_path / "cifar-10-batches-bin").mkdir()
    assert files_present("mnist", tmp_path) and files_present("cifar10", tmp_path)

"""Hostile files read by core: saved runs (.zip, .npz), MNIST's IDX files and CIFAR-10's pickled batches.

Each file is built here, small, in the real format, and declares far more than it holds: a list of
40,000 files, a header for 5 million parameters, a gzip stream of zeros, a pickle asking for an array,
a memo or a codec chain of gigabytes. Each is refused with its one-line message, and the refusal
allocates almost nothing (``tracemalloc``, which sees NumPy's and the unpickler's allocations too):
the check comes before the memory, not after.
"""

import gzip
import io
import json
import pickle
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from core.data import DatasetError, load_cifar10_raw, read_idx
from core.data.cifar10 import BATCHES, MAX_BATCH_BYTES, PIXELS
from core.data.mnist import MAX_IDX_BYTES
from core.training.config import MAX_HIDDEN_LAYERS, MAX_PARAMETERS, MAX_WIDTH
from core.training.runs import MAX_FILE_BYTES, MAX_LIST_BYTES, MAX_MEMBERS, RunFileError, read_run

SMALL = 2**20  # bytes: what a refusal may allocate at most (the file asks for far more)


def refused(error, call, *args):
    """Call, expect ``error``; return its message after checking it is one line and cost under SMALL bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as caught:
            call(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message
    assert peak < SMALL, f"{peak:,} bytes allocated before the refusal"
    return message


# ---- saved runs ----


def npy(shape, data=True):
    """The bytes of an .npy file of float64 zeros; with ``data=False`` its header alone."""
    buffer = io.BytesIO()
    if data:
        np.save(buffer, np.zeros(shape))
    else:
        np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def archive(files, declared=None):
    """A zip of ``files`` ({name: bytes}); ``declared`` ({name: n}) rewrites the unpacked size that the zip's
    list of files states for a member, as a forged archive does (the member itself is unchanged)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    raw = bytearray(buffer.getvalue())
    for name, n in (declared or {}).items():
        entry = _central_entry(raw, name)
        raw[entry + 24 : entry + 28] = struct.pack("<I", n)  # uncompressed size
    return bytes(raw)


def _central_entry(raw, name):
    """Where the central directory entry of ``name`` starts in the zip ``raw``."""
    at = raw.rindex(b"PK\x05\x06")
    start = struct.unpack_from("<I", raw, at + 16)[0]
    while raw[start : start + 4] == b"PK\x01\x02":
        n_name, n_extra, n_comment = struct.unpack_from("<HHH", raw, start + 28)
        if raw[start + 46 : start + 46 + n_name].decode() == name:
            return start
        start += 46 + n_name + n_extra + n_comment
    raise KeyError(name)


def layers(n_hidden, width=1):
    """{member: .npy bytes} of an MLP 1 → width → … → width → 1 with ``n_hidden`` hidden layers."""
    widths = [1] + [width] * n_hidden + [1]
    files = {}
    for l, (a, b) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        files[f"W{l}.npy"], files[f"b{l}.npy"] = npy((b, a)), npy((b,))
    return files


def test_a_20000_layer_npz_is_refused_from_its_list_of_files():
    raw = archive(layers(19_999))  # 40,000 files of a few bytes: the 6.7 MB file of the report
    assert len(zipfile.ZipFile(io.BytesIO(raw)).infolist()) == 40_000
    message = refused(RunFileError, read_run, "deep.npz", raw)
    assert message.startswith("“deep.npz”: its list of files takes ")
    assert message.endswith(f" bytes; a saved run's takes at most {MAX_LIST_BYTES:,}.")


def test_more_files_than_a_network_has_arrays_are_refused_before_any_is_read():
    raw = archive({f"b{l}.npy": npy((1,)) for l in range(1, MAX_MEMBERS + 2)})  # a short list, one file too many
    message = refused(RunFileError, read_run, "many.npz", raw)
    assert message == f"“many.npz” holds {MAX_MEMBERS + 1} files; a saved run holds at most {MAX_MEMBERS}."


def test_one_hidden_layer_more_than_core_trains_is_refused_from_the_headers():
    message = refused(RunFileError, read_run, "deep.npz", archive(layers(MAX_HIDDEN_LAYERS + 1)))
    assert message == f"“deep.npz” describes {MAX_HIDDEN_LAYERS + 1} hidden layers; at most 12 are loaded."
    assert read_run("ok.npz", archive(layers(MAX_HIDDEN_LAYERS))).widths == [1] * (MAX_HIDDEN_LAYERS + 2)


def test_a_layer_wider_than_core_trains_is_refused_from_the_headers():
    message = refused(RunFileError, read_run, "wide.npz", archive(layers(1, width=MAX_WIDTH + 1)))
    assert message == "“wide.npz” has a layer of 1,025 units; at most 1,024 are loaded."


def test_more_parameters_than_core_trains_are_refused_before_the_arrays_are_read():
    shapes = {"W1.npy": (1000, 5001), "b1.npy": (1000,), "W2.npy": (2, 1000), "b2.npy": (2,)}
    headers = {name: npy(shape, data=False) for name, shape in shapes.items()}  # no data: 40 MB declared, 0 held
    declared = {name: len(headers[name]) + 8 * int(np.prod(shape)) for name, shape in shapes.items()}
    n = 1000 * 5001 + 1000 + 2 * 1000 + 2
    assert n > MAX_PARAMETERS
    message = refused(RunFileError, read_run, "big.npz", archive(headers, declared))
    assert message == f"“big.npz” holds {n:,} parameters; at most 5,000,000 are loaded."


def run_archive(declared=None, **files):
    content = {"weights.npz": archive(layers(1)), "metrics.json": b"{}", "history.csv": b"epoch,split,metric,value\n"}
    return archive({**content, **{name.replace("_", "."): v for name, v in files.items()}}, declared)


def test_a_run_whose_weights_declare_more_than_a_network_holds_is_refused_unpacked():
    declared = 100 * 2**20  # under the archive's 256 MB, over the 41 MB the largest network takes
    message = refused(RunFileError, read_run, "run.zip", run_archive({"weights.npz": declared}))
    assert message == (
        f"“run.zip”: weights.npz unpacks to {declared:,} bytes; a saved run's holds at most "
        f"{MAX_FILE_BYTES['weights.npz']:,}."
    )


def test_deeply_nested_metrics_are_refused_with_one_line():
    nested = b"[" * 100_000 + b"]" * 100_000  # json.loads recurses once per bracket
    with pytest.raises(RunFileError) as caught:
        read_run("run.zip", run_archive(metrics_json=nested))
    assert str(caught.value) == "“run.zip”: metrics.json is nested too deeply to be a run's metrics."
    assert read_run("run.zip", run_archive(metrics_json=json.dumps({"a": [[1]]}).encode())).metrics == {"a": [[1]]}


def corrupted(raw, name):
    """``raw`` with the last byte of member ``name``'s stored data flipped."""
    info = zipfile.ZipFile(io.BytesIO(raw)).getinfo(name)
    n_name, n_extra = struct.unpack_from("<HH", raw, info.header_offset + 26)
    end = info.header_offset + 30 + n_name + n_extra + info.compress_size - 1
    return raw[:end] + bytes([raw[end] ^ 0xFF]) + raw[end + 1 :]


def test_a_member_that_does_not_unpack_is_refused_with_one_line():
    bad_crc = corrupted(run_archive(), "history.csv")  # stored: the bytes read, their CRC-32 differs
    message = refused(RunFileError, read_run, "run.zip", bad_crc)
    assert message == "“run.zip”: history.csv cannot be unpacked (Bad CRC-32 for file 'history.csv')."

    buffer = io.BytesIO()
    np.savez_compressed(buffer, W1=np.arange(12.0).reshape(3, 4), b1=np.zeros(3))
    raw = bytearray(buffer.getvalue())
    start = raw.index(b"W1.npy") + len("W1.npy")
    raw[start + 40 : start + 60] = b"\xff" * 20  # inside the deflate stream of W1.npy (after its zip64 extra)
    message = refused(RunFileError, read_run, "weights.npz", bytes(raw))
    assert message.startswith("“weights.npz”: W1.npy is not a NumPy array (")


# ---- MNIST ----


def idx_header(dims, code=0x08):
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def test_an_mnist_gzip_bomb_is_read_only_as_far_as_its_header_declares(tmp_path):
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    parts = [packer.compress(idx_header((10, 28, 28)) + bytes(7840))]
    parts += [packer.compress(bytes(2**20)) for _ in range(256)]  # then 256 MB of zeros
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"".join(parts) + packer.flush())
    assert path.stat().st_size < 2**20
    message = refused(DatasetError, read_idx, path)
    assert message == f"{path} holds more than the 7,840 data bytes its header (10, 28, 28) declares: it is corrupt."


def test_an_idx_header_that_declares_more_than_mnist_holds_is_refused_unread(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header((100_000, 28, 28))))
    message = refused(DatasetError, read_idx, path)
    assert message == (
        f"{path} declares (100000, 28, 28): 78,400,000 data bytes, more than the {MAX_IDX_BYTES:,} an MNIST file holds."
    )


def test_impossible_idx_dimensions_are_a_dataset_error(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_header((1,) * 100) + b"\0")  # 100 dimensions of 1: numpy stops at 64
    assert refused(DatasetError, read_idx, path) == f"{path} declares 100 dimensions; an MNIST file has 1 to 3."
    path.write_bytes(idx_header(()))
    assert refused(DatasetError, read_idx, path) == f"{path} declares 0 dimensions; an MNIST file has 1 to 3."


# ---- CIFAR-10 ----


def cifar_folder(tmp_path, blob):
    """A cifar-10-batches-py folder whose six batches are ``blob``."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in BATCHES:
        (folder / name).write_bytes(blob)
    return folder


def call(module, name, *args):
    """Protocol-2 pickle opcodes that call module.name(*args); each arg is opcodes itself."""
    return f"c{module}\n{name}\n".encode() + b"(" + b"".join(args) + b"tR"


def value(x):
    return pickle.dumps(x, protocol=2)[2:-1]  # without the PROTO header and the STOP


FOUR_LABELS = value([0, 1, 2, 3])


def batch(data, labels=FOUR_LABELS):
    """A pickled batch {"data": data, "labels": labels} (both given as opcodes; str keys read as bytes keys do)."""
    return b"\x80\x02}(" + value("data") + data + value("labels") + labels + b"u."


def refusal(tmp_path, blob):
    folder = cifar_folder(tmp_path, blob)
    return refused(DatasetError, load_cifar10_raw, tmp_path).replace(str(folder / "data_batch_1"), "BATCH")


def test_a_pickle_declaring_an_array_larger_than_a_batch_is_refused_before_it_is_allocated(tmp_path):
    shape = value((20_000, PIXELS))  # 61 MB of uint8, twice a batch
    data = call("numpy._core.multiarray", "_reconstruct", b"cnumpy\nndarray\n", shape, value(b"B"))
    assert refusal(tmp_path, batch(data)) == (
        "Refusing to load BATCH: it declares an array of shape (20000, 3072), more bytes than a batch holds."
    )


def test_a_pickle_calling_ndarray_itself_is_refused(tmp_path):
    data = call("numpy", "ndarray", value((20_000, PIXELS)))  # ndarray(shape) allocates 491 MB of float64
    assert refusal(tmp_path, batch(data)) == (
        "Refusing to load BATCH: it calls numpy.ndarray, which a CIFAR-10 batch never does."
    )


def test_a_codec_chain_that_doubles_its_input_is_refused(tmp_path):
    data = value(b"x")
    for _ in range(24):  # hex doubles the bytes: 16 MB from one byte
        data = call("_codecs", "encode", data, value("hex"))
    assert refusal(tmp_path, batch(data)) == (
        "Refusing to load BATCH: it encodes with 'hex', which a CIFAR-10 batch never does."
    )


def test_a_memo_index_far_beyond_the_objects_stored_is_refused_before_the_memo_grows(tmp_path):
    blob = b"\x80\x02Nr" + struct.pack("<I", 2_000_000) + b"."  # LONG_BINPUT: a memo of 2 million slots
    assert refusal(tmp_path, blob) == (
        "Refusing to load BATCH: it stores an object at memo index 2,000,000 after 0 objects."
    )


def test_a_memo_counted_from_1_as_python_2_wrote_the_real_batches_is_read(tmp_path):
    good = pickle.dumps({b"data": np.zeros((4, PIXELS), np.uint8), b"labels": [0, 1, 2, 3]}, protocol=2)
    cifar_folder(tmp_path, good[:2] + b"Nq\x010" + good[2:])  # a first object stored at index 1, then dropped
    X_train, y_train, _, _ = load_cifar10_raw(tmp_path)
    assert X_train.shape == (20, 3, 32, 32) and y_train.tolist() == [0, 1, 2, 3] * 5


def test_more_labels_than_a_batch_holds_are_refused(tmp_path):
    labels = value([0] * 10_001)
    data = value(np.zeros((4, PIXELS), np.uint8))
    assert refusal(tmp_path, batch(data, labels)) == (
        "BATCH has malformed labels under b'labels': not a list of at most 10,000 whole numbers."
    )


@pytest.mark.parametrize(("folder", "suffix"), [("cifar-10-batches-py", ""), ("cifar-10-batches-bin", ".bin")])
def test_a_batch_file_larger_than_the_real_ones_is_refused_unread(tmp_path, folder, suffix):
    (tmp_path / folder).mkdir()
    for name in BATCHES:
        with open(tmp_path / folder / (name + suffix), "wb") as f:
            f.truncate(MAX_BATCH_BYTES + 1)  # sparse: takes no disk
    path = tmp_path / folder / ("data_batch_1" + suffix)
    message = refused(DatasetError, load_cifar10_raw, tmp_path)
    assert message == f"{path} is 33,554,433 bytes; a CIFAR-10 batch is at most 33,554,432."

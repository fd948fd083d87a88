"""CIFAR (restricted unpickler, folder and .tar.gz) and IDX (MNIST, Fashion-MNIST) readers on tiny files."""
import gzip
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from prunebench.config import DataSpec
from prunebench.data import DATASETS, load_data
from prunebench.data.cifar import safe_load
from prunebench.errors import DataError


def _cifar_batch(n, seed, label_key, num_classes):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, num_classes, size=n)]
    return {b"batch_label": b"test", label_key: labels, b"data": data}


def write_cifar10(root, n=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _cifar_batch(n, i, b"labels", 10) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(n, 9, b"labels", 10)
    for name, d in batches.items():
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)
    return folder, batches


def write_cifar100(root, n=6):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    batches = {"train": _cifar_batch(n, 1, b"fine_labels", 100), "test": _cifar_batch(n, 2, b"fine_labels", 100)}
    for name, d in batches.items():
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    return folder, batches


def raw_cifar(spec_dir, name="cifar10"):
    return DATASETS.get(name)(DataSpec(name=name, data_dir=str(spec_dir)))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_safe_load_refuses_a_pickle_that_would_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blob = pickle.dumps({b"data": Evil()}, protocol=2)
    with pytest.raises(DataError, match=r"refused to unpickle global (posix|nt)\.system"):
        safe_load(blob, "evil")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("obj", [eval, np.load, tarfile.open])
def test_safe_load_refuses_other_globals(obj):
    with pytest.raises(DataError, match="refused to unpickle global"):
        safe_load(pickle.dumps(obj, protocol=2), "x")


def test_safe_load_admits_only_latin1_codec():
    import _codecs

    class Sneaky:
        def __reduce__(self):
            return (_codecs.encode, ("abc", "rot13"))

    with pytest.raises(DataError, match="not a readable CIFAR batch"):
        safe_load(pickle.dumps(Sneaky(), protocol=2), "x")
    # bytes (spelled with the latin1 codec in protocol 2) inside a batch dict are fine ...
    assert safe_load(pickle.dumps({b"k": b"\x00\xff"}, protocol=2), "x") == {b"k": b"\x00\xff"}
    # ... but a top-level object that is not a batch (dict) or an array is refused
    with pytest.raises(DataError, match="not a CIFAR batch"):
        safe_load(pickle.dumps(b"\x00\xff", protocol=2), "x")


def test_safe_load_round_trips_numpy_arrays():
    arr = np.arange(12, dtype=np.int64).reshape(3, 4)
    out = safe_load(pickle.dumps({b"a": arr, b"l": [1, 2]}, protocol=2), "x")
    assert np.array_equal(out[b"a"], arr) and out[b"l"] == [1, 2]


def test_cifar10_folder_round_trip_and_every_accepted_location(tmp_path):
    folder, batches = write_cifar10(tmp_path)
    raw = raw_cifar(tmp_path)
    assert raw.train_x.shape == (20, 3, 32, 32) and raw.train_x.dtype == torch.uint8
    first = batches["data_batch_1"]
    # Channel-major rows: the first 1024 bytes are the red plane, row by row.
    assert raw.train_x[0, 0].flatten().tolist() == first[b"data"][0, :1024].tolist()
    assert raw.train_x[1, 2, 31, 31].item() == first[b"data"][1, 3071]
    assert raw.train_y[:4].tolist() == first[b"labels"]
    assert raw.train_y[4:8].tolist() == batches["data_batch_2"][b"labels"]
    assert raw.test_y.tolist() == batches["test_batch"][b"labels"]
    assert torch.equal(raw_cifar(folder).train_x, raw.train_x)  # the batch folder itself


def test_cifar10_from_tar_gz_and_its_folder(tmp_path):
    folder, _ = write_cifar10(tmp_path / "src")
    archive_dir = tmp_path / "dl"
    archive_dir.mkdir()
    archive = archive_dir / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    expected = raw_cifar(folder)
    for where in (archive, archive_dir):
        got = raw_cifar(where)
        assert torch.equal(got.train_x, expected.train_x) and torch.equal(got.test_y, expected.test_y)


def test_cifar10_bundle_is_normalised_per_channel(tmp_path):
    write_cifar10(tmp_path, n=10)
    b = load_data(DataSpec(name="cifar10", data_dir=str(tmp_path), val_fraction=0.2))
    assert (len(b.train_x), len(b.val_x), len(b.test_x)) == (40, 10, 10)
    assert b.input_shape == (3, 32, 32) and b.kind == "image" and len(b.mean) == 3
    per_channel = b.train_x.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-5)
    assert 0.4 < b.mean[0] < 0.6  # uniform bytes scaled to [0, 1]


def test_cifar100_fine_labels(tmp_path):
    _, batches = write_cifar100(tmp_path)
    raw = raw_cifar(tmp_path, "cifar100")
    assert raw.num_classes == 100 and raw.train_x.shape == (6, 3, 32, 32)
    assert raw.train_y.tolist() == batches["train"][b"fine_labels"]


def test_cifar_missing_and_malformed(tmp_path):
    with pytest.raises(DataError, match=r"cifar10: no cifar-10-batches-py under .*expected data_batch_1..5 "
                                        r"and test_batch, or cifar-10-python.tar.gz"):
        raw_cifar(tmp_path / "nowhere")
    folder, _ = write_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="lacks data_batch_3"):
        raw_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataError, match="data_batch_3: not a readable CIFAR batch"):
        raw_cifar(tmp_path)
    bad = {b"labels": [1], b"data": np.zeros((1, 100), np.uint8)}
    (folder / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match="N x 3072"):
        raw_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match="data_batch_3: refused to unpickle global"):
        raw_cifar(tmp_path)
    not_tar = tmp_path / "cifar-10-python.tar.gz"
    not_tar.write_bytes(b"nope")
    with pytest.raises(DataError, match="not a readable tar archive"):
        raw_cifar(not_tar)


def idx_bytes(arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx(folder, n_train=5, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        blob = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / name).write_bytes(blob)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_raw_and_gzipped(tmp_path, gz):
    arrays = write_idx(tmp_path, gz=gz)
    raw = DATASETS.get("mnist")(DataSpec(name="mnist", data_dir=str(tmp_path)))
    assert raw.train_x.shape == (5, 1, 28, 28) and raw.test_x.shape == (3, 1, 28, 28)
    assert raw.train_x[:, 0].numpy().tolist() == arrays["train-images-idx3-ubyte"].tolist()
    assert raw.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_fashion_mnist_in_torchvision_layout(tmp_path):
    arrays = write_idx(tmp_path / "FashionMNIST" / "raw", gz=True, seed=1)
    b = load_data(DataSpec(name="fashion-mnist", data_dir=str(tmp_path), val_fraction=0.2, augment=False))
    assert b.input_shape == (1, 28, 28) and len(b.train_x) == 4 and len(b.val_x) == 1
    assert sorted(torch.cat([b.train_y, b.val_y]).tolist()) == sorted(arrays["train-labels-idx1-ubyte"].tolist())


def test_idx_missing_and_malformed(tmp_path):
    with pytest.raises(DataError, match=r"mnist: no IDX files under .*train-images-idx3-ubyte\[.gz\]"):
        DATASETS.get("mnist")(DataSpec(name="mnist", data_dir=str(tmp_path)))
    write_idx(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    with pytest.raises(DataError, match="header says 5 bytes of data for shape \\(5,\\), file has 4"):
        DATASETS.get("mnist")(DataSpec(name="mnist", data_dir=str(tmp_path)))
    labels.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00" * 4)
    with pytest.raises(DataError, match="expected an unsigned-byte IDX file of rank 1"):
        DATASETS.get("mnist")(DataSpec(name="mnist", data_dir=str(tmp_path)))
    labels.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="bad magic"):
        DATASETS.get("mnist")(DataSpec(name="mnist", data_dir=str(tmp_path)))

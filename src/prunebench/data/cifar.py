"""CIFAR-10 / CIFAR-100 from the standard python-format batches, read with a restricted unpickler.

The batch files are pickles. A pickle can name any importable callable, so a tampered file could run
code on load; :class:`SafeUnpickler` admits only the few numpy globals that rebuild a plain array.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import release_freed_memory, register_dataset, RawData, as_labels, cache_dir


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _latin1_encode(text, encoding="latin1"):
    # Protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(str, "latin1"); admit that
    # one use only, not the general codec machinery.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    # A fresh wrapper per lookup: a pickle's BUILD opcode may set attributes on what find_class
    # returns, and must never reach a function of ours that outlives the load.
    ("_codecs", "encode"): lambda: (lambda text, encoding="latin1": _latin1_encode(text, encoding)),
}


class RefusedGlobal(pickle.UnpicklingError):
    pass


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy array globals the CIFAR batch files need."""

    def find_class(self, module: str, name: str):
        make = _ALLOWED.get((module, name))
        if make is None:
            raise RefusedGlobal(f"{module}.{name}")
        return make()


def safe_load(data: bytes, source: str) -> object:
    """Unpickle ``data`` with :class:`SafeUnpickler`; any refusal or corruption is one DataError."""
    try:
        obj = SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedGlobal as err:
        raise DataError(f"{source}: refused to unpickle global {err} (only numpy arrays are allowed)") from None
    except Exception as err:  # a corrupt pickle can raise almost anything
        raise DataError(f"{source}: not a readable CIFAR batch ({type(err).__name__}: {err})") from None
    if not isinstance(obj, (dict, np.ndarray)):
        raise DataError(f"{source}: not a CIFAR batch (the pickle holds a {type(obj).__name__}, not a dict of arrays)")
    return obj


@dataclass(frozen=True)
class CifarLayout:
    name: str
    folder: str
    archive: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: bytes
    num_classes: int


CIFAR10 = CifarLayout(
    "cifar10", "cifar-10-batches-py", "cifar-10-python.tar.gz",
    tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels", 10,
)
CIFAR100 = CifarLayout(
    "cifar100", "cifar-100-python", "cifar-100-python.tar.gz", ("train",), "test", b"fine_labels", 100,
)


def _expected(lay: CifarLayout) -> str:
    files = f"{lay.train_files[0]}..{lay.train_files[-1][-1]}" if len(lay.train_files) > 1 else lay.train_files[0]
    return f"expected {files} and {lay.test_file}, or {lay.archive}"


def _wanted(lay: CifarLayout) -> tuple[str, ...]:
    return (*lay.train_files, lay.test_file)


def _read_folder(folder: Path, lay: CifarLayout) -> dict[str, bytes]:
    missing = [f for f in _wanted(lay) if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{lay.name}: {folder} lacks {', '.join(missing)} ({_expected(lay)})")
    return {f: (folder / f).read_bytes() for f in _wanted(lay)}


def _read_archive(path: Path, lay: CifarLayout) -> dict[str, bytes]:
    # Members are read in memory, never extracted, so archive paths cannot write anywhere.
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.isfile() and len(parts) >= 2 and parts[-2] == lay.folder and parts[-1] in _wanted(lay):
                    out[parts[-1]] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{lay.name}: {path} is not a readable tar archive ({err})") from None
    missing = [f for f in _wanted(lay) if f not in out]
    if missing:
        raise DataError(f"{lay.name}: {path} lacks {lay.folder}/{', '.join(missing)}")
    return out


def find_source(data_dir: str | None, lay: CifarLayout) -> Path:
    """Accept the batch folder, its parent, the .tar.gz archive, or the archive's folder."""
    root = Path(data_dir).expanduser() if data_dir else cache_dir()
    if root.is_file():
        return root
    if (root / lay.folder).is_dir():
        return root / lay.folder
    if root.is_dir() and (root.name == lay.folder or any((root / f).exists() for f in _wanted(lay))):
        return root
    if (root / lay.archive).is_file():
        return root / lay.archive
    raise DataError(f"{lay.name}: no {lay.folder} under {root} ({_expected(lay)})")


def _decode_batch(blob: object, source: str, lay: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(blob, dict) or b"data" not in blob or lay.label_key not in blob:
        raise DataError(f"{source}: not a {lay.name} batch (expected a dict with b'data' and {lay.label_key!r})")
    data, labels = blob[b"data"], np.asarray(blob[lay.label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{source}: b'data' must be a uint8 array of shape N x 3072")
    if labels.ndim != 1 or len(labels) != len(data) or labels.dtype.kind not in "iu":
        raise DataError(f"{source}: {lay.label_key!r} must hold {len(data)} integer labels")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar(data_dir: str | None, lay: CifarLayout) -> RawData:
    src = find_source(data_dir, lay)
    blobs = _read_archive(src, lay) if src.is_file() else _read_folder(src, lay)
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for f in list(blobs):  # decode one file at a time, dropping its bytes: memory stays near 1x the set
        source = f"{lay.name}: {src}/{f}"
        parts[f] = _decode_batch(safe_load(blobs.pop(f), source), source, lay)
    train_y = np.concatenate([parts[f][1] for f in lay.train_files])
    train_x = _concat_consuming([parts.pop(f)[0] for f in lay.train_files])
    test_x, test_y = parts.pop(lay.test_file)
    return RawData(
        name=lay.name,
        kind="image",
        num_classes=lay.num_classes,
        train_x=torch.from_numpy(train_x),
        train_y=as_labels(train_y),
        test_x=torch.from_numpy(test_x.copy()),  # the unpickled array may be read-only
        test_y=as_labels(test_y),
    )


def _concat_consuming(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(arrays)`` that frees each input once copied: the peak is the result plus one
    input, not twice the data (the caller must hold no other reference to the inputs)."""
    out = np.empty((sum(len(a) for a in arrays), *arrays[0].shape[1:]), dtype=arrays[0].dtype)
    at = 0
    while arrays:
        a = arrays.pop(0)
        out[at:at + len(a)] = a
        at += len(a)
        del a
        release_freed_memory()
    return out


@register_dataset("cifar10", kind="image", description="CIFAR-10 from the python batches you have (data_dir), 3x32x32, 10 classes")
def load_cifar10(spec) -> RawData:
    return load_cifar(spec.data_dir, CIFAR10)


@register_dataset("cifar100", kind="image", description="CIFAR-100 from the python batches you have (data_dir), 3x32x32, 100 classes")
def load_cifar100(spec) -> RawData:
    return load_cifar(spec.data_dir, CIFAR100)

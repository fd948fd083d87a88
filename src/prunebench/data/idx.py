"""MNIST and Fashion-MNIST from the standard IDX files, gzipped or raw."""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import register_dataset, RawData, as_labels, cache_dir

FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
# torchvision's layout (<root>/<Name>/raw) is common on machines that already hold the files.
SUBDIRS = {"mnist": ("", "MNIST/raw", "mnist", "raw"),
           "fashion-mnist": ("", "FashionMNIST/raw", "fashion-mnist", "fashion_mnist", "raw")}
_UBYTE = 0x08


def parse_idx(blob: bytes, source: str, ndim: int) -> np.ndarray:
    """Decode an unsigned-byte IDX file: 2 zero bytes, type 0x08, rank, big-endian uint32 sizes, data."""
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    if blob[2] != _UBYTE or blob[3] != ndim:
        raise DataError(f"{source}: expected an unsigned-byte IDX file of rank {ndim}, "
                        f"got type 0x{blob[2]:02x} rank {blob[3]}")
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DataError(f"{source}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(blob, dtype=">u4", count=ndim, offset=4))
    size = math.prod(dims)  # Python ints: a crafted header cannot overflow the size check
    if len(blob) - header != size:
        raise DataError(f"{source}: IDX header says {size} bytes of data for shape {dims}, "
                        f"file has {len(blob) - header}")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find(folder: Path, stem: str) -> Path | None:
    # Some mirrors use "train-images.idx3-ubyte"; accept it as well as the canonical name.
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _locate(root: Path, name: str) -> dict[str, Path]:
    for sub in SUBDIRS[name]:
        folder = root / sub if sub else root
        found = {k: _find(folder, stem) for k, stem in FILES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
    expected = ", ".join(f"{s}[.gz]" for s in FILES.values())
    raise DataError(f"{name}: no IDX files under {root} (expected {expected})")


def _read(path: Path, ndim: int) -> np.ndarray:
    try:
        raw = path.read_bytes()
        blob = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    return parse_idx(blob, str(path), ndim)


def load_idx(data_dir: str | None, name: str) -> RawData:
    root = Path(data_dir).expanduser() if data_dir else cache_dir()
    paths = _locate(root, name)
    arr = {k: _read(p, 3 if k.endswith("_x") else 1) for k, p in paths.items()}
    return RawData(
        name=name,
        kind="image",
        num_classes=10,
        train_x=torch.from_numpy(arr["train_x"]).unsqueeze(1),
        train_y=as_labels(torch.from_numpy(arr["train_y"])),
        test_x=torch.from_numpy(arr["test_x"]).unsqueeze(1),
        test_y=as_labels(torch.from_numpy(arr["test_y"])),
    )


@register_dataset("mnist", kind="image", flip=False, description="MNIST from the IDX files you have (data_dir), 1x28x28, 10 classes")
def load_mnist(spec) -> RawData:
    return load_idx(spec.data_dir, "mnist")


@register_dataset("fashion-mnist", kind="image", description="Fashion-MNIST from the IDX files you have (data_dir), 1x28x28, 10 classes")
def load_fashion_mnist(spec) -> RawData:
    return load_idx(spec.data_dir, "fashion-mnist")

"""From a loader's raw tensors to a ready DataBundle: validation split, scaling, normalisation."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from ..errors import DataError
from .base import DATASETS, RawData


@dataclass
class DataBundle:
    """A data set ready for training: float32 inputs (normalised), int64 labels, three disjoint parts."""

    name: str
    kind: str  # "signal" (C, L), "image" (C, H, W) or "vector" (D,)
    input_shape: tuple[int, ...]
    num_classes: int
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: list[float] | None = None
    std: list[float] | None = None

    def to(self, device) -> "DataBundle":
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), Tensor)}
        return replace(self, **moved)


def split_seed(seed: int) -> int:
    # Derived from the data spec's split_seed and a purpose name, never from a run seed: every arm and
    # every run seed sees the same validation split.
    return zlib.crc32(f"prunebench/val-split/{seed}".encode())


def split_indices(n: int, val_fraction: float, seed: int, name: str = "data") -> tuple[Tensor, Tensor]:
    """Disjoint (train, val) index sets covering range(n), each in ascending order."""
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0 and n > 1:
        n_val = 1
    if n_val >= n:
        raise DataError(f"{name}: val_fraction {val_fraction} leaves no training examples out of {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed(seed)))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def _to_float(x: Tensor) -> Tensor:
    # 8-bit images become [0, 1] floats; anything else is already real-valued.
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def channel_stats(x: Tensor, kind: str) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over a float tensor (one value for vectors), in float64 for accuracy."""
    if kind == "vector":
        flat = x.reshape(1, -1)
    else:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
    flat = flat.double()
    mean = flat.mean(1)
    std = flat.std(1, unbiased=False).clamp_min(1e-12)
    return mean, std


def _normalize(x: Tensor, mean: Tensor, std: Tensor, kind: str) -> Tensor:
    shape = (1,) * x.dim() if kind == "vector" else (1, -1) + (1,) * (x.dim() - 2)
    return x.sub_(mean.float().view(shape)).div_(std.float().view(shape))


def _check_spec_shape(spec, raw: RawData) -> None:
    shape = tuple(raw.train_x.shape[1:])
    if spec.input_shape is not None and tuple(spec.input_shape) != shape:
        raise DataError(f"{raw.name}: data.input_shape is {tuple(spec.input_shape)} but the data has {shape}")
    if spec.num_classes is not None and spec.num_classes != raw.num_classes:
        raise DataError(f"{raw.name}: data.num_classes is {spec.num_classes} but the data has {raw.num_classes}")


def load_data(spec) -> DataBundle:
    """Load the data set a DataSpec names, carve the validation split from train, normalise on train."""
    raw = DATASETS.get(spec.name)(spec)
    raw.check()
    _check_spec_shape(spec, raw)
    train_idx, val_idx = split_indices(len(raw.train_x), spec.val_fraction, spec.split_seed, raw.name)
    train_x = _to_float(raw.train_x[train_idx])
    val_x = _to_float(raw.train_x[val_idx])
    test_x = _to_float(raw.test_x)
    mean = std = None
    if spec.normalize:
        m, s = channel_stats(train_x, raw.kind)  # training part only: val/test must not leak in
        for x in (train_x, val_x, test_x):
            _normalize(x, m, s, raw.kind)
        mean, std = m.tolist(), s.tolist()
    return DataBundle(
        name=raw.name, kind=raw.kind, input_shape=tuple(raw.train_x.shape[1:]), num_classes=raw.num_classes,
        train_x=train_x, train_y=raw.train_y[train_idx], val_x=val_x, val_y=raw.train_y[val_idx],
        test_x=test_x, test_y=raw.test_y, mean=mean, std=std,
    )

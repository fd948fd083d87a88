"""From a loader's raw tensors to a ready DataBundle: validation split, scaling, normalisation.

Two storage forms, with the same numbers:

* ``load_data(spec)``: every input float32, scaled and normalised once at load time;
* ``load_data(spec, compact=True)`` (what training runs use): 8-bit images stay uint8 (a quarter of
  the memory, on the host and on the device) and ``DataBundle.prepare`` scales and normalises each
  batch after indexing, with the very operations the float form applies to the whole set, so the
  batches are bit-identical on CPU. Non-8-bit data are float32 in both forms.

Channel statistics of 8-bit data come from per-channel histograms of the 256 possible values (exact
integer counts, then float64 sums over 256 terms): no float copy of the set, and the same result
whatever the chunking. Compact loading also compacts the training part inside the loader's tensor
instead of copying it, so loading a uint8 set peaks at little more than the set itself.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from ..errors import DataError
from . import fingerprint
from .base import DATASETS, RawData, release_freed_memory


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

    @property
    def compact(self) -> bool:
        """True when the inputs are stored as uint8 and :meth:`prepare` scales and normalises them."""
        return self.train_x.dtype == torch.uint8

    def prepare(self, x: Tensor) -> Tensor:
        """The model's float32 inputs for stored inputs ``x`` (any slice of ``train_x``, ``val_x`` or
        ``test_x``): unchanged for float storage, scaled and normalised for uint8 storage."""
        if x.dtype != torch.uint8:
            return x
        out = _to_float(x)
        if self.mean is None:
            return out
        mean = torch.tensor(self.mean, dtype=torch.float64, device=x.device)
        std = torch.tensor(self.std, dtype=torch.float64, device=x.device)
        return _normalize(out, mean, std, self.kind)

    def to(self, device) -> "DataBundle":
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), Tensor)}
        return replace(self, **moved)


def split_seed(seed: int) -> int:
    # Derived from the data spec's split_seed and a purpose name, never from a run seed: every arm and
    # every run seed sees the same validation split.
    return zlib.crc32(f"prunebench/val-split/{seed}".encode())


def split_indices(n: int, val_fraction: float, seed: int, name: str = "data") -> tuple[Tensor, Tensor]:
    """Disjoint (train, val) index sets covering range(n), each in ascending order. A split that
    would be empty is refused (a validation split only when val_fraction > 0 asks for one)."""
    if n == 0:
        raise DataError(f"{name}: the training split is empty (0 examples)")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        if n == 1:
            raise DataError(f"{name}: val_fraction {val_fraction} leaves no validation example out of 1 "
                            "(use val_fraction 0 for no validation split)")
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


#: Examples per chunk when 8-bit channel statistics are counted (bounded extra memory).
STATS_CHUNK = 1024


def uint8_channel_stats(x: Tensor, kind: str, chunk: int = STATS_CHUNK) -> tuple[Tensor, Tensor]:
    """:func:`channel_stats` of ``_to_float(x)`` for uint8 ``x`` without a float copy of it.

    Counts each of the 256 values per channel (int64, exact, chunk by chunk), then takes the mean and
    the (population) std of those counts' float32 values in float64. Equal to ``channel_stats`` up to
    float64 rounding (the direct sum over N values rounds differently from a sum over 256 terms).
    """
    channels = 1 if kind == "vector" else x.shape[1]
    counts = torch.zeros((channels, 256), dtype=torch.int64)
    for lo in range(0, len(x), chunk):
        part = x[lo:lo + chunk]
        if kind == "vector":
            counts[0] += torch.bincount(part.reshape(-1), minlength=256)
            continue
        for c in range(channels):
            counts[c] += torch.bincount(part[:, c].reshape(-1), minlength=256)
    values = _to_float(torch.arange(256, dtype=torch.uint8)).double()  # exactly what the float path holds
    n = counts.sum(1).double()
    weights = counts.double()
    mean = (weights * values).sum(1) / n
    var = (weights * (values[None, :] - mean[:, None]) ** 2).sum(1) / n
    return mean, var.sqrt().clamp_min(1e-12)


def _normalize(x: Tensor, mean: Tensor, std: Tensor, kind: str) -> Tensor:
    shape = (1,) * x.dim() if kind == "vector" else (1, -1) + (1,) * (x.dim() - 2)
    return x.sub_(mean.float().view(shape)).div_(std.float().view(shape))


def _check_spec_shape(spec, raw: RawData) -> None:
    shape = tuple(raw.train_x.shape[1:])
    if spec.input_shape is not None and tuple(spec.input_shape) != shape:
        raise DataError(f"{raw.name}: data.input_shape is {tuple(spec.input_shape)} but the data has {shape}")
    if spec.num_classes is not None and spec.num_classes != raw.num_classes:
        raise DataError(f"{raw.name}: data.num_classes is {spec.num_classes} but the data has {raw.num_classes}")


def _split_in_place(x: Tensor, keep: Tensor, chunk: int = STATS_CHUNK) -> Tensor:
    """``x[keep]`` for ascending ``keep``, written over the front of ``x`` (no second copy of ``x``).

    Safe because every source row ``keep[i] >= i``: a chunk's rows are read before it writes, and
    earlier chunks wrote only rows below this chunk's sources. Returns a view of ``x``.
    """
    for lo in range(0, len(keep), chunk):
        x[lo:lo + len(keep[lo:lo + chunk])] = x[keep[lo:lo + chunk]]
    return x[:len(keep)]


def load_data(spec, *, compact: bool = False) -> DataBundle:
    """Load the data set a DataSpec names, carve the validation split from train, normalise on train.

    ``compact=True`` keeps 8-bit images as uint8 (normalised per batch by ``DataBundle.prepare``) and
    reuses the memory of the loader's tensors: a loader must return fresh tensors (see
    docs/extending.md)."""
    with fingerprint.recording(spec) as seen:  # which files the loader reads: the run's data fingerprint
        raw = DATASETS.get(spec.name)(spec)
    raw.check()
    seen.finish(raw)
    _check_spec_shape(spec, raw)
    if len(raw.test_x) == 0:  # every accuracy would be 0/0
        raise DataError(f"{raw.name}: the test split is empty (0 examples)")
    train_idx, val_idx = split_indices(len(raw.train_x), spec.val_fraction, spec.split_seed, raw.name)
    if raw.train_x.dtype == torch.uint8:
        return _load_uint8(spec, raw, train_idx, val_idx, compact)
    train_x = _to_float(raw.train_x[train_idx])
    val_x = _to_float(raw.train_x[val_idx])
    test_x = _to_float(raw.test_x)
    mean = std = None
    if spec.normalize:
        m, s = channel_stats(train_x, raw.kind)  # training part only: val/test must not leak in
        for x in (train_x, val_x, test_x):
            _normalize(x, m, s, raw.kind)
        mean, std = m.tolist(), s.tolist()
    return _bundle(raw, train_x, train_idx, val_x, val_idx, test_x, mean, std)


def _load_uint8(spec, raw: RawData, train_idx: Tensor, val_idx: Tensor, compact: bool) -> DataBundle:
    val_x = raw.train_x[val_idx]
    train_y, val_y = raw.train_y[train_idx], raw.train_y[val_idx]
    if compact and raw.train_x.is_contiguous():
        train_x = _split_in_place(raw.train_x, train_idx)
    else:
        train_x = raw.train_x[train_idx]
    release_freed_memory()
    mean = std = None
    if spec.normalize:
        m, s = uint8_channel_stats(train_x, raw.kind)  # training part only: val/test must not leak in
        mean, std = m.tolist(), s.tolist()
    bundle = _bundle(raw, train_x, None, val_x, None, raw.test_x, mean, std, train_y=train_y, val_y=val_y)
    if compact:
        return bundle
    return replace(bundle, train_x=bundle.prepare(train_x), val_x=bundle.prepare(val_x), test_x=bundle.prepare(raw.test_x))


def _bundle(raw: RawData, train_x, train_idx, val_x, val_idx, test_x, mean, std, *, train_y=None, val_y=None) -> DataBundle:
    return DataBundle(
        name=raw.name, kind=raw.kind, input_shape=tuple(raw.train_x.shape[1:]), num_classes=raw.num_classes,
        train_x=train_x, train_y=raw.train_y[train_idx] if train_y is None else train_y,
        val_x=val_x, val_y=raw.train_y[val_idx] if val_y is None else val_y,
        test_x=test_x, test_y=raw.test_y, mean=mean, std=std,
    )

"""Shared pieces of the data package: the registry, the raw-data record loaders return, the cache path."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..registry import DATASETS


KINDS = ("signal", "image", "vector")


def register_dataset(name: str, *, kind: str, description: str, flip: bool = True, augment: bool = True) -> Callable:
    """Decorator: register a loader ``fn(spec: DataSpec) -> RawData`` under ``name``.

    ``kind`` is the inputs' layout: ``signal`` (C x L), ``image`` (C x H x W), ``vector`` (D), or
    ``any`` (decided by the spec's ``input_shape``); it chooses the augmentation of training batches
    (images: padded random crop, and a horizontal flip unless ``flip=False``; signals: a random
    shift; vectors: none). ``augment=False``: no augmentation even when a spec asks for its data set's
    default (``augment: true``), for data whose class pattern a crop or shift destroys. The loader
    returns unsplit, unnormalised CPU tensors; prunebench carves the
    validation split and normalises with training-part statistics."""
    if kind not in (*KINDS, "any"):
        raise ConfigError(f"register_dataset({name!r}): kind must be one of {', '.join((*KINDS, 'any'))}, got {kind!r}")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"register_dataset({name!r}): a description is required")

    def decorator(fn: Callable) -> Callable:
        if not callable(fn):
            raise ConfigError(f"register_dataset({name!r}): {fn!r} is not callable")
        DATASETS.add(name, fn, kind=kind, description=description, flip=bool(flip), augment=bool(augment))
        return fn

    return decorator


@dataclass
class RawData:
    """What a loader returns: unsplit, unnormalised tensors on CPU.

    ``train_x``/``test_x`` are float32, or uint8 for 8-bit images (kept small until load_data scales them
    to [0, 1]). load_data normalises with statistics of the training part only; that holds for
    mnist1d too, whose generator standardises with statistics of all its samples, test ones included.
    """

    name: str
    kind: str
    num_classes: int
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

    def check(self) -> None:
        """Catch a loader bug or a malformed file before it becomes a silent training problem."""
        if self.kind not in KINDS:
            raise DataError(f"{self.name}: unknown data kind {self.kind!r}; valid: {', '.join(KINDS)}")
        rank = {"signal": 2, "image": 3, "vector": 1}[self.kind]
        for part, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dim() != rank + 1 or x.shape[1:] != self.train_x.shape[1:]:
                raise DataError(f"{self.name}: {part} inputs have shape {tuple(x.shape)}, expected N x {rank} dims")
            if y.dim() != 1 or len(y) != len(x):
                raise DataError(f"{self.name}: {part} has {len(x)} inputs but {tuple(y.shape)} labels")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise DataError(f"{self.name}: {part} labels outside [0, {self.num_classes})")


def release_freed_memory() -> None:
    """Hand memory freed by Python/numpy/torch back to the OS now (glibc keeps freed blocks below the
    mmap threshold in its heap; ``malloc_trim`` returns them). A no-op where glibc is absent. Called
    between the steps of loading a large set, so the peak stays near the size of the set itself."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _malloc_trim():
    global _TRIM
    if _TRIM is False:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = None
    return _TRIM


_TRIM: object = False


def cache_dir() -> Path:
    """Where generated data is cached: $PRUNEBENCH_CACHE, else ~/.cache/prunebench."""
    env = os.environ.get("PRUNEBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "prunebench"


def as_labels(y) -> Tensor:
    return torch.as_tensor(y).to(torch.int64).reshape(-1)

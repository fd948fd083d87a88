"""Shared pieces of the data package: the registry, the raw-data record loaders return, the cache path."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import DataError
from ..registry import Registry

DATASETS: Registry = Registry("dataset")

KINDS = ("signal", "image", "vector")


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


def cache_dir() -> Path:
    """Where generated data is cached: $PRUNEBENCH_CACHE, else ~/.cache/prunebench."""
    env = os.environ.get("PRUNEBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "prunebench"


def as_labels(y) -> Tensor:
    return torch.as_tensor(y).to(torch.int64).reshape(-1)

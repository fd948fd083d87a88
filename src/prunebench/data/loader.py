"""TensorLoader: mini-batches straight from device-resident tensors.

A small data set fits on the device whole, so a batch is one ``index_select`` (or a slice when not
shuffling) plus batched augmentation, with no workers, collation or host-to-device copies of data.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
from torch import Tensor

from .augment import Augment, to_device


class TensorLoader:
    """Iterate over ``(x, y)`` in batches, optionally shuffled and augmented.

    Randomness comes only from the generators passed in: ``generator`` orders examples (a fresh
    permutation each epoch), ``aug_generator`` drives ``augment``. Either may live on the CPU or on the
    data's device; the draws are made on the generator's device and the indices moved to the data. A
    CPU generator gives the same order and augmentation on every device; a generator on the data's
    CUDA device avoids the (small, asynchronous) host-to-device copies.
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, *, shuffle: bool = False,
                 generator: torch.Generator | None = None, augment: Augment | None = None,
                 aug_generator: torch.Generator | None = None, drop_last: bool = False,
                 min_last: int = 1, transform: Callable[[Tensor], Tensor] | None = None) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if y.device != x.device:
            raise ValueError(f"x is on {x.device} but y is on {y.device}")
        # Refuse rather than fall back to the global RNG: every random stream must be explicit.
        if shuffle and generator is None:
            raise ValueError("shuffle=True needs an explicit torch.Generator")
        if augment is not None and aug_generator is None:
            raise ValueError("augment needs an explicit aug_generator")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.generator = shuffle, generator
        self.augment, self.aug_generator = augment, aug_generator
        # Applied to each batch after indexing, before augmentation: e.g. DataBundle.prepare, which
        # scales and normalises uint8 inputs, so the stored set stays small.
        self.transform = transform
        self.drop_last = drop_last
        # A last batch smaller than ``min_last`` joins the one before it (BatchNorm cannot train on a
        # single example); every other batch, and so every result, is unchanged.
        self.min_last = min_last

    def __len__(self) -> int:
        return self.batches(len(self.x), self.batch_size, min_last=self.min_last, drop_last=self.drop_last)

    @staticmethod
    def batches(n: int, batch_size: int, *, min_last: int = 1, drop_last: bool = False) -> int:
        """How many batches a loader of ``n`` examples gives (without building one)."""
        if drop_last:
            return n // batch_size
        batches = math.ceil(n / batch_size)
        short = n - (batches - 1) * batch_size
        return batches - 1 if batches > 1 and short < min_last else batches

    def _order(self) -> Tensor | None:
        if not self.shuffle:
            return None
        g = self.generator
        return to_device(torch.randperm(len(self.x), generator=g, device=g.device), self.x.device)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self._order()
        bs = self.batch_size
        count = len(self)
        for b in range(count):
            lo = b * bs
            hi = len(self.x) if (b == count - 1 and not self.drop_last) else min((b + 1) * bs, len(self.x))
            if order is None:
                xb, yb = self.x[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if self.transform is not None:
                xb = self.transform(xb)
            if self.augment is not None:
                xb = self.augment(xb, self.aug_generator)
            yield xb, yb

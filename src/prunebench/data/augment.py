"""Batched augmentation: every example gets its own random crop/flip or shift, all in a few tensor ops.

Each augmentation is split into *draw* (the random parameters, from an explicit generator) and *apply*
(pure index arithmetic), so the batched version can be checked against a per-example loop.
Random numbers are drawn on the generator's device and moved to the data's device, so a CPU
generator drives CUDA data too.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Augment = Callable[[Tensor, torch.Generator], Tensor]

CROP_PAD = 4  # the usual CIFAR recipe: zero-pad 4, crop back to size
SIGNAL_MAX_SHIFT = 4  # 10% of a length-40 mnist1d signal


def to_device(t: Tensor, device: torch.device) -> Tensor:
    """Move freshly drawn random numbers to the data's device without stalling the GPU queue.

    A plain host-to-CUDA copy waits for all queued kernels; through pinned memory it is asynchronous
    (the caching host allocator keeps the buffer alive until the copy is done).
    """
    if t.device == device:
        return t
    if t.device.type == "cpu" and device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _draw(n: int, high: int, gen: torch.Generator, device: torch.device) -> Tensor:
    # One draw, one transfer per batch, whatever the number of parameters packed into it.
    return to_device(torch.randint(high, (n,), generator=gen, device=gen.device), device)


def draw_crop_flip(n: int, gen: torch.Generator, pad: int = CROP_PAD, flip: bool = True,
                   device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """Per example: row offset and column offset in [0, 2*pad], and a flip flag (0/1)."""
    span = 2 * pad + 1
    code = _draw(n, span * span * (2 if flip else 1), gen, torch.device(device))
    return code % span, (code // span) % span, code // (span * span)


def crop_flip(x: Tensor, dy: Tensor, dx: Tensor, flipped: Tensor, pad: int = CROP_PAD) -> Tensor:
    """Crop an (H, W) window at (dy, dx) from each zero-padded image, mirrored where ``flipped``."""
    n, c, h, w = x.shape
    wp = w + 2 * pad
    padded = F.pad(x, (pad, pad, pad, pad)).reshape(n, c, -1)
    cols = torch.arange(w, device=x.device)
    # A flipped example reads its window right to left: flip and crop become one gather.
    cols = torch.where(flipped.bool()[:, None], w - 1 - cols, cols) + dx[:, None]  # (n, w)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (n, h)
    index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return padded.gather(2, index).reshape(n, c, h, w)


def draw_shift(n: int, gen: torch.Generator, max_shift: int = SIGNAL_MAX_SHIFT,
               device: torch.device | str = "cpu") -> Tensor:
    """Per example: an integer shift in [-max_shift, max_shift]."""
    return _draw(n, 2 * max_shift + 1, gen, torch.device(device)) - max_shift


def shift(x: Tensor, s: Tensor, max_shift: int = SIGNAL_MAX_SHIFT) -> Tensor:
    """out[i, :, t] = x[i, :, t - s[i]], zero where t - s[i] falls outside the signal."""
    n, c, length = x.shape
    padded = F.pad(x, (max_shift, max_shift))
    index = torch.arange(length, device=x.device)[None, :] - s[:, None] + max_shift
    return padded.gather(2, index[:, None, :].expand(n, c, length))


def random_crop_flip(x: Tensor, gen: torch.Generator) -> Tensor:
    return crop_flip(x, *draw_crop_flip(len(x), gen, device=x.device))


def random_crop(x: Tensor, gen: torch.Generator) -> Tensor:
    """Padded random crop without the flip: for data whose mirror image means something else (digits)."""
    return crop_flip(x, *draw_crop_flip(len(x), gen, flip=False, device=x.device))


def random_shift(x: Tensor, gen: torch.Generator) -> Tensor:
    return shift(x, draw_shift(len(x), gen, device=x.device))


#: The augmentations by the names specs use (``config.AUGMENTATIONS`` says which kind each fits).
NAMED: dict[str, Augment | None] = {"none": None, "crop-flip": random_crop_flip, "crop": random_crop,
                                    "shift": random_shift}
KINDS = ("image", "signal", "vector")


def augmentation_named(name: str, kind: str) -> Augment | None:
    """The augmentation called ``name`` for data of ``kind``; an error when it does not fit the kind."""
    from ..config import AUGMENTATIONS

    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}; valid: {', '.join(KINDS)}")
    if name not in NAMED:
        raise ValueError(f"unknown augmentation {name!r}; valid: {', '.join(NAMED)}")
    fits = AUGMENTATIONS[name]
    if fits is not None and fits != kind:
        raise ValueError(f"augmentation {name!r} is for {fits} data, not {kind} data")
    return NAMED[name]


def augmentation_for(kind: str, enabled: bool, *, flip: bool = True) -> Augment | None:
    """The standard training-time augmentation of a data kind, or None when disabled or there is none.
    ``flip=False`` (data sets registered with ``flip=False``, e.g. MNIST digits) crops without mirroring."""
    from ..config import standard_augmentation

    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}; valid: {', '.join(KINDS)}")
    return augmentation_named(standard_augmentation(kind, flip), kind) if enabled else None

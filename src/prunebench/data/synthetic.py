"""synthetic: Gaussian class clusters of any shape, for tests and smoke runs.

Each class has its own random mean pattern; examples are that mean plus unit noise. The means are
scaled to the input size so that a tiny model learns it well above chance at any shape, while the
clusters still overlap enough that accuracy is not trivially 100%.
"""
from __future__ import annotations

import math

import torch

from ..errors import DataError
from .base import register_dataset, RawData

DEFAULT_SHAPE = (3, 8, 8)
DEFAULT_CLASSES = 10
DEFAULT_TRAIN = 512
KIND_BY_RANK = {1: "vector", 2: "signal", 3: "image"}
# Expected distance between two class means, in units of the (unit) noise, whatever the input size:
# well above chance for a tiny model, yet not perfectly separable.
SEPARATION = 4.0


def _labels(n: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    # Balanced classes in random order.
    y = torch.arange(n, dtype=torch.int64) % num_classes
    return y[torch.randperm(n, generator=gen)]


def make_synthetic(shape: tuple[int, ...], num_classes: int, n_train: int, seed: int) -> RawData:
    if len(shape) not in KIND_BY_RANK or min(shape) < 1:
        raise DataError(f"synthetic: input_shape must have 1 to 3 positive sizes (got {shape})")
    gen = torch.Generator().manual_seed(seed)
    dim = math.prod(shape)
    means = torch.randn((num_classes, *shape), generator=gen) * (SEPARATION / math.sqrt(2 * dim))
    n_test = max(num_classes, n_train // 4)
    parts = []
    for n in (n_train, n_test):
        y = _labels(n, num_classes, gen)
        x = means[y] + torch.randn((n, *shape), generator=gen)
        parts += [x, y]
    return RawData("synthetic", KIND_BY_RANK[len(shape)], num_classes, *parts)


# No augmentation by default: a crop or flip moves the class pattern away from the fixed means it is
# defined by (ResNet-20 with CIFAR-style crop/flip stays at chance on it).
@register_dataset("synthetic", kind="any", augment=False,
                   description="Gaussian class clusters of any input_shape / num_classes, for tests and benchmarks (not augmented)")
def load_synthetic(spec) -> RawData:
    shape = tuple(spec.input_shape) if spec.input_shape else DEFAULT_SHAPE
    return make_synthetic(shape, spec.num_classes or DEFAULT_CLASSES, spec.num_samples or DEFAULT_TRAIN,
                          spec.split_seed)

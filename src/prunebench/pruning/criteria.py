"""Pruning criteria: small pure objects that turn a layer's weights (and, for some, gradients or the
following BN) into importance scores. Lower score = removed first. Selection, plans and application
live elsewhere, so a criterion is only "scores in": it never touches the model.

Filter criteria score each output filter/unit; weight criteria score each weight element. The
filter ``l1`` score is the classic per-filter L1 norm of Li et al. 2017 (sum of |w| over input
channels x kernel), not Torch-Pruning's group-aggregated, normalised importance.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import PruneError
from ..registry import Registry


@dataclass
class ScoreInput:
    """What a criterion may look at for one layer."""

    name: str
    weight: torch.Tensor  # detached; dim 0 = output filters/units
    seed: int  # derived from the prune seed and the layer name
    grad: torch.Tensor | None = None  # dL/dw accumulated over the given batches (taylor)
    bn: nn.Module | None = None  # the BatchNorm that normalises this layer's outputs (bn-scale)
    granularity: str = "filter"  # "filter": one score per output filter; "weight": one per element


class Criterion:
    name: ClassVar[str]
    granularities: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    needs_data: ClassVar[bool] = False
    needs_bn: ClassVar[bool] = False
    arg_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **args: Any) -> None:
        unknown = sorted(set(args) - set(self.arg_names))
        if unknown:
            allowed = ", ".join(self.arg_names) or "none"
            raise PruneError(f"criterion {self.name!r} has no argument {unknown[0]!r} (allowed: {allowed})")
        self.args = dict(args)

    def config(self) -> dict[str, Any]:
        """Everything needed to recompute the scores (recorded in the plan)."""
        return {"name": self.name, "args": dict(self.args), "score": self.description}

    def score(self, inp: ScoreInput) -> torch.Tensor:
        raise NotImplementedError


CRITERIA: Registry[type[Criterion]] = Registry("criterion")


def _register(cls: type[Criterion]) -> type[Criterion]:
    CRITERIA.add(cls.name, cls, granularities=cls.granularities, description=cls.description)
    return cls


def layer_seed(seed: int, layer: str) -> int:
    """A per-layer seed, so a random criterion's pick in one layer does not depend on which other
    layers are pruned (or skipped)."""
    digest = hashlib.sha256(f"prunebench-criterion:{seed}:{layer}".encode()).digest()
    return int.from_bytes(digest[:7], "little")


def _per_filter(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


@_register
class L1(Criterion):
    name, granularities = "l1", ("filter",)
    description = "sum of |w| over in-channels x kernel of each output filter (Li et al. 2017)"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        return _per_filter(inp.weight).abs().sum(1)


@_register
class L2(Criterion):
    name, granularities = "l2", ("filter",)
    description = "sqrt of the sum of w^2 over in-channels x kernel of each output filter"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        return _per_filter(inp.weight).pow(2).sum(1).sqrt()


@_register
class Random(Criterion):
    name, granularities = "random", ("filter", "weight")
    description = "uniform random scores from a torch.Generator seeded per layer from the prune seed"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        gen = torch.Generator().manual_seed(inp.seed)
        shape = inp.weight.shape if inp.granularity == "weight" else inp.weight.shape[:1]
        return torch.rand(shape, generator=gen, dtype=torch.float64)


@_register
class Taylor(Criterion):
    name, granularities = "taylor", ("filter",)
    description = "|sum over each output filter of w * dL/dw|, dL/dw summed over the given batches (cross-entropy, train mode)"
    needs_data = True

    def score(self, inp: ScoreInput) -> torch.Tensor:
        if inp.grad is None:
            raise PruneError(f"criterion 'taylor' has no gradient for layer {inp.name!r}")
        return _per_filter(inp.weight * inp.grad).sum(1).abs()


@_register
class BNScale(Criterion):
    name, granularities = "bn-scale", ("filter",)
    description = "|gamma| of the BatchNorm that follows each filter (network slimming)"
    needs_bn = True

    def score(self, inp: ScoreInput) -> torch.Tensor:
        if inp.bn is None or getattr(inp.bn, "weight", None) is None:
            raise PruneError(f"criterion 'bn-scale' needs an affine BatchNorm after layer {inp.name!r}; it has none")
        return inp.bn.weight.detach().abs()


@_register
class Magnitude(Criterion):
    name, granularities = "magnitude", ("weight",)
    description = "|w| of each weight"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        return inp.weight.abs()


def criterion_from_spec(spec: Any) -> Criterion:
    """Instantiate the spec's criterion, checking its arguments and that it fits the granularity."""
    cls = CRITERIA.get(spec.criterion) if spec.criterion in CRITERIA else None
    if cls is None:
        raise PruneError(f"unknown criterion {spec.criterion!r}; valid: {', '.join(CRITERIA.names())}")
    if spec.granularity not in cls.granularities:
        others = [n for n in CRITERIA.names() if spec.granularity in CRITERIA.get(n).granularities]
        raise PruneError(
            f"criterion {spec.criterion!r} does not score granularity {spec.granularity!r}; use one of {', '.join(others)}"
        )
    return cls(**spec.criterion_args)

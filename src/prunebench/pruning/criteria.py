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

from ..errors import ConfigError, PruneError
from ..registry import CRITERIA


#: What a criterion may declare it needs (``Criterion.needs``).
NEEDS = ("weight", "grad", "bn", "data")
GRANULARITIES = ("filter", "weight")


@dataclass
class ScoreInput:
    """What a criterion sees for one layer. Fields a criterion did not declare in ``needs`` are None."""

    name: str  # the layer's module name in the model
    weight: torch.Tensor  # detached; dim 0 = output filters/units
    seed: int  # derived from the prune seed and the layer name
    grad: torch.Tensor | None = None  # "grad": dL/dw summed over the given batches (cross-entropy, train mode)
    batch_grads: tuple[torch.Tensor, ...] = ()  # "grad": dL/dw of each batch on its own (taylor)
    bn: nn.Module | None = None  # "bn": the BatchNorm that normalises this layer's outputs
    granularity: str = "filter"  # "filter": one score per output filter; "weight": one per element
    module: nn.Module | None = None  # "data": the layer itself (read only)
    model: nn.Module | None = None  # "data": the whole dense model (read only; a scratch copy)
    batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # "data": the (inputs, targets) batches


class Criterion:
    """A pruning criterion: scores in, nothing else. Lower score = removed first.

    Subclass it, set the class attributes, implement :meth:`score`, and decorate the class with
    :func:`prunebench.register_criterion`:

    * ``name``: the registry name (what a spec's ``criterion`` says);
    * ``granularities``: ``("filter",)`` (one score per output filter), ``("weight",)`` (one per
      weight element) or both;
    * ``description``: the score in words (recorded in every plan);
    * ``needs``: what :meth:`score` reads, from :data:`NEEDS` (``"weight"`` always; ``"grad"`` makes
      the pruner compute dL/dw over a few training batches; ``"bn"`` passes the following BatchNorm;
      ``"data"`` passes the batches, the layer and a scratch copy of the model);
    * ``arg_names``: the keyword arguments a spec's ``criterion_args`` may set (``self.args``);
      ``example_args``: a valid set of them, for ``prunebench.testing.check_criterion``.
    """

    name: ClassVar[str]
    granularities: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("weight",)
    arg_names: ClassVar[tuple[str, ...]] = ()
    #: Valid ``criterion_args`` for the contract checks of ``prunebench.testing`` (default: none).
    example_args: ClassVar[dict[str, Any]] = {}

    def __init__(self, **args: Any) -> None:
        unknown = sorted(set(args) - set(self.arg_names))
        if unknown:
            allowed = ", ".join(self.arg_names) or "none"
            raise PruneError(f"criterion {self.name!r} has no argument {unknown[0]!r} (allowed: {allowed})")
        self.args = dict(args)

    @classmethod
    def needs_training_data(cls) -> bool:
        """Whether scoring reads training batches (gradients or the data itself)."""
        return "grad" in cls.needs or "data" in cls.needs

    def config(self) -> dict[str, Any]:
        """Everything needed to recompute the scores (recorded in the plan)."""
        return {"name": self.name, "args": dict(self.args), "score": self.description}

    def score(self, inp: ScoreInput) -> torch.Tensor:
        raise NotImplementedError


def _check_criterion_class(cls: Any) -> None:
    what = getattr(cls, "__name__", repr(cls))
    if not (isinstance(cls, type) and issubclass(cls, Criterion)):
        raise ConfigError(f"register_criterion: {what} is not a subclass of prunebench.Criterion")
    for attr in ("name", "description"):
        if not isinstance(getattr(cls, attr, None), str) or not getattr(cls, attr).strip():
            raise ConfigError(f"criterion class {what}: class attribute {attr!r} must be a non-empty string")
    grans = getattr(cls, "granularities", None)
    if not isinstance(grans, tuple) or not grans or not set(grans) <= set(GRANULARITIES):
        raise ConfigError(f"criterion {cls.name!r}: granularities must be a non-empty tuple of {GRANULARITIES}, got {grans!r}")
    if not isinstance(cls.needs, tuple) or not set(cls.needs) <= set(NEEDS) or "weight" not in cls.needs:
        raise ConfigError(f"criterion {cls.name!r}: needs must be a tuple of {NEEDS} including 'weight', got {cls.needs!r}")
    if cls.score is Criterion.score:
        raise ConfigError(f"criterion {cls.name!r}: {what} does not implement score()")


def register_criterion(cls: type[Criterion] | None = None):
    """Class decorator: register a :class:`Criterion` subclass under its ``name``.

    Usable bare (``@register_criterion``) or called (``@register_criterion()``)."""

    def decorator(c: type[Criterion]) -> type[Criterion]:
        _check_criterion_class(c)
        CRITERIA.add(c.name, c, granularities=c.granularities, description=c.description, needs=c.needs)
        return c

    return decorator if cls is None else decorator(cls)


def layer_seed(seed: int, layer: str) -> int:
    """A per-layer seed, so a random criterion's pick in one layer does not depend on which other
    layers are pruned (or skipped)."""
    digest = hashlib.sha256(f"prunebench-criterion:{seed}:{layer}".encode()).digest()
    return int.from_bytes(digest[:7], "little")


def _per_filter(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


@register_criterion
class L1(Criterion):
    name, granularities = "l1", ("filter",)
    description = "sum of |w| over in-channels x kernel of each output filter (Li et al. 2017)"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        return _per_filter(inp.weight).abs().sum(1)


@register_criterion
class L2(Criterion):
    name, granularities = "l2", ("filter",)
    description = "sqrt of the sum of w^2 over in-channels x kernel of each output filter"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        return _per_filter(inp.weight).pow(2).sum(1).sqrt()


@register_criterion
class Random(Criterion):
    name, granularities = "random", ("filter", "weight")
    description = "uniform random scores from a torch.Generator seeded per layer from the prune seed"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        gen = torch.Generator().manual_seed(inp.seed)
        shape = inp.weight.shape if inp.granularity == "weight" else inp.weight.shape[:1]
        return torch.rand(shape, generator=gen, dtype=torch.float64)


@register_criterion
class Taylor(Criterion):
    """Molchanov et al. 2019 (first-order Taylor, filter group): per batch, the squared contribution
    (sum over the filter of w * dL/dw)^2, averaged over the batches."""

    name, granularities = "taylor", ("filter",)
    description = "mean over the given batches of (sum over each output filter of w * dL/dw)^2 (Molchanov et al. 2019; cross-entropy, train mode)"
    needs = ("weight", "grad")

    def score(self, inp: ScoreInput) -> torch.Tensor:
        if not inp.batch_grads:
            raise PruneError(f"criterion 'taylor' has no gradient for layer {inp.name!r}")
        w = inp.weight.to(torch.float64)
        per_batch = [_per_filter(w * g.to(torch.float64)).sum(1).pow(2) for g in inp.batch_grads]
        return torch.stack(per_batch).mean(0)


@register_criterion
class TaylorSum(Criterion):
    """The form prunebench used before: gradients summed over batches first, then |.| of the filter sum.
    On a single batch it ranks filters exactly as ``taylor`` does."""

    name, granularities = "taylor-sum", ("filter",)
    description = "|sum over each output filter of w * dL/dw|, dL/dw summed over the given batches (cross-entropy, train mode)"
    needs = ("weight", "grad")

    def score(self, inp: ScoreInput) -> torch.Tensor:
        if inp.grad is None:
            raise PruneError(f"criterion 'taylor-sum' has no gradient for layer {inp.name!r}")
        return _per_filter(inp.weight * inp.grad).sum(1).abs()


@register_criterion
class BNScale(Criterion):
    name, granularities = "bn-scale", ("filter",)
    description = "|gamma| of the BatchNorm that follows each filter (network slimming)"
    needs = ("weight", "bn")

    def score(self, inp: ScoreInput) -> torch.Tensor:
        if inp.bn is None or getattr(inp.bn, "weight", None) is None:
            raise PruneError(f"criterion 'bn-scale' needs an affine BatchNorm after layer {inp.name!r}; it has none")
        return inp.bn.weight.detach().abs()


@register_criterion
class Magnitude(Criterion):
    name, granularities = "magnitude", ("weight",)
    description = "|w| of each weight"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        return inp.weight.abs()


def criterion_from_spec(spec: Any) -> Criterion:
    """Instantiate the spec's criterion, checking its arguments and that it fits the granularity."""
    if spec.criterion not in CRITERIA:
        raise PruneError(f"unknown criterion {spec.criterion!r}; valid: {', '.join(CRITERIA.names())}")
    cls = CRITERIA.get(spec.criterion)
    if spec.granularity not in cls.granularities:
        others = [n for n in CRITERIA.names() if spec.granularity in CRITERIA.get(n).granularities]
        raise PruneError(
            f"criterion {spec.criterion!r} does not score granularity {spec.granularity!r}; use one of {', '.join(others)}"
        )
    return cls(**spec.criterion_args)

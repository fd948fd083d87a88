"""Retraining regimes named as the pruning literature names them, written through the public
:class:`~prunebench.pipeline.regimes.base.Regime` contract (exact definitions: methods-notes §I).

| regime    | starting weights           | retraining schedule (``epochs`` epochs, per-iteration forms: prunebench.schedule_iter) |
|-----------|----------------------------|-----------------------------------------------------------------------------------------|
| fine-tune | pruned final dense weights | constant: the last LR of the base schedule (Li et al., Liu et al.)                      |
| slr       | pruned final dense weights | ``slr:peak=P``: cosine warm-up from P/100 to P, then x0.1 at 50% and 75% of the rest (Le & Hua) |
| clr       | pruned final dense weights | ``onecycle:peak=P``: cosine warm-up from P/100 to P, cosine decay to P/10^4 (Le & Hua)  |
| allr      | pruned final dense weights | ``linear:peak=LR0,start=0,end=0,shape=cos``: cosine warm-up to LR0, linear decay to 0 (Zimmer et al.) |

P is the base schedule's largest LR unless the spec gives ``lr`` (slr, clr). The warm-up is a fraction
of the retraining iterations, ``args: {warmup: W}`` (default 0.1, as both papers use; in [0, 1)).

ALLR's LR0 (BIMP's ``define_retrain_schedule``)::

    LR0 = clip(d / sqrt(s) * LR_max,  lower = min(E_retrain / E_train, 1) * LR_max,  upper = LR_max)

with ``d = sqrt(|‖θ_before‖² − ‖θ_after‖²|) / ‖θ_before‖`` over every parameter of the model (weights
and biases, BN's included: :func:`norm_drop`; a removed filter counts as zeroed), ``s`` the fraction
of the dense model's parameters the pruning removed (the report's ``sparsity``; one-shot pruning of a
dense model is BIMP's single phase), LR_max the base schedule's largest LR, E_train its epochs and
E_retrain the retraining epochs. The pipeline passes ``d`` and ``s`` in the
:class:`~prunebench.pipeline.regimes.base.RegimeContext`; the resolved ``derived`` holds LR0 and
every input, stored in spec.json (``resolved.derived``) and result.json (``regime_derived``).
The study's dry checks resolve before anything is pruned (``norm_drop`` None): there the recipe
has its final shape and length, with LR_max standing in for LR0 (``derived.lr0`` None); it is never
trained.
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from ...config import Spec
from ...errors import ConfigError
from ...schedule_iter import format_lr
from .base import Regime, RegimeContext, Resolved, need_base, recipe, register_regime


def norm_drop(before: Any, after: Any) -> float:
    """Zimmer et al.'s relative L2 norm drop of a pruning step: ``sqrt(|‖b‖² − ‖a‖²|) / ‖b‖`` over every
    parameter of the module ``before`` (dense) and ``after`` (pruned: masked entries are zero, removed
    filters are gone)."""
    import torch

    def squared(model: Any) -> float:
        with torch.no_grad():
            return float(sum(float(p.detach().double().pow(2).sum()) for p in model.parameters()))

    b, a = squared(before), squared(after)
    if b <= 0:
        raise ConfigError("the dense model's parameters are all zero: the norm drop is undefined")
    return math.sqrt(abs(b - a)) / math.sqrt(b)


def allr_lr(d: float, s: float, lr_max: float, retrain_epochs: int, train_epochs: int) -> dict[str, Any]:
    """ALLR's initial LR and the numbers it comes from (see the module docstring)."""
    if not 0 < s <= 1:
        raise ConfigError(f"ALLR needs a pruned fraction in (0, 1], got {s}")
    if train_epochs < 1:
        raise ConfigError("ALLR needs the base run's epochs (>= 1) for its lower bound")
    raw = d / math.sqrt(s) * lr_max
    lower = min(retrain_epochs / train_epochs, 1.0) * lr_max
    lr0 = float(f"{min(max(raw, lower), lr_max):.12g}")  # as the schedule string writes it
    clipped = "lower" if raw < lower else "upper" if raw > lr_max else None
    return {"norm_drop": d, "pruned_fraction": s, "lr_max": lr_max, "retrain_epochs": retrain_epochs,
            "train_epochs": train_epochs, "unclipped": raw, "lower": lower, "upper": lr_max, "clipped": clipped,
            "lr0": lr0}


class WarmupArgs(Spec):
    """``regime.args`` of slr, clr and allr: the warm-up, a fraction of the retraining iterations."""

    warmup: float = Field(default=0.1, ge=0, lt=1)


def _epochs(spec: Any) -> int:
    if spec.epochs is None or spec.epochs < 1:
        raise ConfigError(f"regime {spec.name!r} needs epochs >= 1, got {spec.epochs}")
    return int(spec.epochs)


def _base_epochs(ctx: RegimeContext) -> int:
    return ctx.base_train.epochs if ctx.base_train else 0


class _Literature(Regime):
    Args = WarmupArgs
    reads = ("epochs", "lr")
    example = {"epochs": 2}

    def check(self, spec: Any) -> None:
        super().check(spec)
        if spec.extend:
            raise ConfigError(f"regime {self.name!r} takes no extend: its per-iteration schedule has no first LR stage"
                              " to lengthen (give more epochs)")

    def warmup(self, spec: Any) -> float:
        return self.args(spec).warmup  # type: ignore[union-attr]

    def peak(self, spec: Any, ctx: RegimeContext) -> float:
        return float(spec.lr) if spec.lr is not None else float(need_base(ctx, spec).schedule.max_lr)


class _PeakSchedule(_Literature):
    """A per-iteration schedule (``schedule_kind``) peaking at the base's largest LR (or ``lr``)
    after the warm-up, from the pruned final weights."""

    schedule_kind: str

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        epochs, peak = _epochs(spec), self.peak(spec, ctx)
        schedule = f"{self.schedule_kind}:peak={format_lr(peak)},warmup={self.warmup(spec):.12g}"
        return Resolved("final", None, recipe(spec, ctx, epochs, schedule), _base_epochs(ctx))


@register_regime
class FineTune(Regime):
    name = "fine-tune"
    description = "retrain the pruned final weights for `epochs` at the base schedule's last LR, constant (Li et al., Liu et al.)"
    reads = ("epochs",)
    example = {"epochs": 2}

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        epochs, base = _epochs(spec), need_base(ctx, spec)
        last = float(base.schedule.final_lr)
        if last <= 0:
            raise ConfigError(f"regime 'fine-tune': the base schedule ends at LR {last}; fine-tuning at it would not train")
        return Resolved("final", None, recipe(spec, ctx, epochs, f"0:{format_lr(last)}"), base.epochs)


@register_regime
class SLR(_PeakSchedule):
    name = "slr"
    description = "retrain the pruned final weights with Le & Hua's SLR: cosine warm-up to the peak LR, then x0.1 at 50% and 75%"
    schedule_kind = "slr"


@register_regime
class CLR(_PeakSchedule):
    name = "clr"
    description = "retrain the pruned final weights with Le & Hua's CLR: one cycle, cosine up to the peak LR and down"
    schedule_kind = "onecycle"


@register_regime
class ALLR(_Literature):
    name = "allr"
    description = "retrain the pruned final weights with Zimmer et al.'s ALLR: LR from the pruning's norm drop, warm-up, linear decay"
    reads = ("epochs",)

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        epochs, base = _epochs(spec), need_base(ctx, spec)
        lr_max = float(base.schedule.max_lr)
        if ctx.norm_drop is None or ctx.pruned_fraction is None:  # a dry check, before pruning
            derived: dict[str, Any] = {"lr0": None, "lr_max": lr_max, "retrain_epochs": epochs,
                                       "train_epochs": base.epochs}
            lr0 = lr_max
        else:
            derived = allr_lr(ctx.norm_drop, ctx.pruned_fraction, lr_max, epochs, base.epochs)
            lr0 = derived["lr0"]
        schedule = f"linear:peak={format_lr(lr0)},start=0,end=0,warmup={self.warmup(spec):.12g},shape=cos"
        return Resolved("final", None, recipe(spec, ctx, epochs, schedule), base.epochs, derived=derived)

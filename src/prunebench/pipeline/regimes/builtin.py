"""The built-in retraining regimes, written through the same contract a plug-in regime uses.

| regime        | starting weights                  | retraining schedule                                          |
|---------------|-----------------------------------|--------------------------------------------------------------|
| retrain       | pruned final dense weights        | ``lr_schedule``, or derived from ``lr`` by the paper's rules |
| lr-rewind     | pruned final dense weights        | the last ``epochs`` epochs of the base schedule (Renda)      |
| weight-rewind | kept weights at base epoch ``k``  | the base schedule from epoch ``k`` (``K1 - k`` epochs)        |
| scratch-e     | fresh init, pruned architecture   | ``K1 + K2`` epochs, base schedule stretched to that length   |
| scratch-b     | fresh init, pruned architecture   | paper: ``K1*F1/F2 + K2`` epochs; liu: ``int(K1*F1/F2)``      |
| pxfy          | pruned dense weights at epoch x   | remainder of the base schedule (S4.2), or derived from ``lr`` |

PxFy with ``squeeze`` (SX-B style): the pruning epoch becomes ``x' = round(x * F2/F1)`` (x divided by
the speedup), so the dense phase costs about what x epochs of the pruned model would, and the
retraining is the un-squeezed arm's (the base schedule's tail from x) for ``y + x - x' * F1/F2`` epochs
(rounded): the retraining absorbs the rounding of x', so the total compute ``x' F1 + y' F2`` equals that
of the un-squeezed arm's ``(x + y) F2``, i.e. of training the pruned model for ``x + y`` epochs.

K1 = base (pretraining) epochs, K2 = the retraining epochs of the pipeline a scratch arm is compared
with (``epochs``), F1/F2 = dense/pruned MACs counted from the models. ``extend`` adds ``k`` epochs to
the first LR stage of the result ("+k epochs").
"""
from __future__ import annotations

import math
from typing import Any

from ... import schedule as sched
from ...errors import ConfigError
from .base import Regime, RegimeContext, Resolved, explicit_schedule, need_base, recipe, register_regime


def stretch(schedule: str, from_epochs: int, to_epochs: int) -> str:
    """A step schedule with its boundaries scaled from a run of ``from_epochs`` to ``to_epochs``
    (decays stay at the same fractions of the run: Liu et al.'s Scratch-E/B practice). A boundary
    ``k * to / from`` lands on the nearest epoch, halves rounded up (15 of 30 -> 22.5 of 45 -> 23)."""
    s = sched.parse(schedule)
    if from_epochs < 1:
        raise ConfigError("a scratch regime needs a base recipe of at least 1 epoch to stretch")
    if s.kind != "step" or from_epochs == to_epochs:  # cosine and per-iteration forms scale with the run
        return str(s)
    points, last = [], -1
    for key, lr in s.points:
        new = (2 * key * to_epochs + from_epochs) // (2 * from_epochs)  # floor(x + 1/2), exact in integers
        if new <= last:
            new = last + 1
        points.append((new, lr))
        last = new
    return str(sched.Schedule("step", tuple(points)))


@register_regime
class Retrain(Regime):
    name = "retrain"
    description = "retrain the pruned final weights for `epochs` with lr_schedule, or a schedule derived from lr"
    example = {"epochs": 2, "lr": 0.01}

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        if spec.epochs is None:
            raise ConfigError("regime 'retrain' needs epochs")
        schedule = explicit_schedule(spec, ctx, spec.epochs)
        if schedule is None:
            raise ConfigError("regime 'retrain' needs lr_schedule or lr")
        base_epochs = ctx.base_train.epochs if ctx.base_train else 0
        return Resolved("final", None, recipe(spec, ctx, spec.epochs, schedule), base_epochs)


@register_regime
class LRRewind(Regime):
    name = "lr-rewind"
    description = "retrain the pruned final weights on the last `epochs` epochs of the base schedule (Renda et al.)"
    example = {"epochs": 2}
    reads = ("epochs",)

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        base = need_base(ctx, spec)
        t = spec.epochs
        if base.epochs < 1:
            raise ConfigError("regime 'lr-rewind' replays the end of the base schedule, but the base run has 0 epochs")
        if t is None or not 0 < t <= base.epochs:
            raise ConfigError(f"regime 'lr-rewind' needs epochs in 1..{base.epochs} (the base run's length), got {t}")
        schedule = str(base.schedule.tail(base.epochs - t))
        return Resolved("final", None, recipe(spec, ctx, t, schedule), base.epochs)


def from_snapshot(spec: Any, ctx: RegimeContext, epoch: int | None, field: str) -> tuple[Any, int, int, str]:
    """Shared by weight rewinding and PxFy: the base epoch to start from and, unless the spec says
    otherwise, the rest of the base run: ``K1 - e`` epochs of its schedule's tail."""
    base = need_base(ctx, spec)
    if base.epochs < 1:
        raise ConfigError(f"regime {spec.name!r} starts from a base snapshot, but the base run has 0 epochs")
    if epoch is None or not 0 <= epoch < base.epochs:
        raise ConfigError(f"regime {spec.name!r} needs {field} in 0..{base.epochs - 1}, got {epoch}")
    epochs = spec.epochs if spec.epochs is not None else base.epochs - epoch
    schedule = explicit_schedule(spec, ctx, epochs) or str(base.schedule.tail(epoch))
    return base, epoch, epochs, schedule


@register_regime
class WeightRewind(Regime):
    name = "weight-rewind"
    description = "score the final weights, rewind the kept weights to base epoch rewind_epoch, retrain on the rest of the base run"
    example = {"rewind_epoch": 1}
    params = ("rewind_epoch",)

    def snapshots(self, spec: Any) -> set[int]:
        return set() if spec.rewind_epoch is None else {spec.rewind_epoch}

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        base, k, epochs, schedule = from_snapshot(spec, ctx, spec.rewind_epoch, "rewind_epoch")
        return Resolved("snapshot", k, recipe(spec, ctx, epochs, schedule), base.epochs)

    def estimated_epochs(self, spec: Any, base_epochs: int) -> int:
        return int(spec.epochs if spec.epochs is not None else base_epochs - (spec.rewind_epoch or 0))


def scratch_b_epochs(k1: int, f1: float, f2: float, k2: int, formula: str) -> int:
    """Scratch-B budget. paper: K1*F1/F2 + K2 (rounded to the nearest epoch); liu: int(K1*F1/F2)."""
    if f2 <= 0:
        raise ConfigError("scratch-b needs the pruned model's MACs to be > 0")
    if formula == "liu":
        return int(k1 * f1 / f2)
    return int(math.floor(k1 * f1 / f2 + k2 + 0.5))


class _Scratch(Regime):
    reads = ("epochs", "lr_schedule")

    def epochs_for(self, spec: Any, ctx: RegimeContext, base_epochs: int) -> int:
        raise NotImplementedError

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        base = need_base(ctx, spec)
        epochs = self.epochs_for(spec, ctx, base.epochs)
        schedule = spec.lr_schedule or stretch(base.lr_schedule, base.epochs, epochs)
        return Resolved("fresh", None, recipe(spec, ctx, epochs, schedule), 0)

    def estimated_epochs(self, spec: Any, base_epochs: int) -> int:
        return int(base_epochs) + int(spec.epochs or 0)


@register_regime
class ScratchE(_Scratch):
    name = "scratch-e"
    description = "train the pruned architecture from a fresh init for K1 + K2 epochs (Liu et al.'s Scratch-E)"
    example = {"epochs": 2}

    def epochs_for(self, spec: Any, ctx: RegimeContext, base_epochs: int) -> int:
        return base_epochs + (spec.epochs or 0)


@register_regime
class ScratchB(_Scratch):
    name = "scratch-b"
    description = "train the pruned architecture from a fresh init for the dense run's compute (Scratch-B)"
    example = {"epochs": 2}
    params = ("scratch_b",)

    def epochs_for(self, spec: Any, ctx: RegimeContext, base_epochs: int) -> int:
        # A method's pruning stage is part of the dense run's compute: in dense-epoch units.
        k1 = base_epochs + (ctx.stage_compute / ctx.dense_macs if ctx.dense_macs else 0)
        return scratch_b_epochs(k1, ctx.dense_macs, ctx.pruned_macs, spec.epochs or 0, spec.scratch_b)


def squeezed_epoch(x: int, dense_macs: float, pruned_macs: float) -> int:
    """The pruning epoch divided by the MACs speedup, to the nearest epoch."""
    return int(math.floor(x * pruned_macs / dense_macs + 0.5))


@register_regime
class PxFy(Regime):
    name = "pxfy"
    description = "prune the base run's epoch-x weights, retrain on the rest of its schedule (S4.2) or a derived one; squeeze: SX-B"
    example = {"prune_epoch": 2}
    params = ("prune_epoch", "squeeze")

    def snapshots(self, spec: Any) -> set[int]:
        if spec.prune_epoch is None:
            return set()
        # squeezed: the epoch depends on the speedup, known only after pruning; keep them all
        return set(range(spec.prune_epoch + 1)) if spec.squeeze else {spec.prune_epoch}

    def score_epoch(self, spec: Any) -> int | None:
        return spec.prune_epoch

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        _, x, y, schedule = from_snapshot(spec, ctx, spec.prune_epoch, "prune_epoch")
        if not spec.squeeze:
            return Resolved("snapshot", x, recipe(spec, ctx, y, schedule), x, score_epoch=x)
        start = squeezed_epoch(x, ctx.dense_macs, ctx.pruned_macs)
        y = max(1, int(math.floor(y + x - start * ctx.dense_macs / ctx.pruned_macs + 0.5)))
        return Resolved("snapshot", start, recipe(spec, ctx, y, schedule), start, score_epoch=start)

"""Retraining regimes: each turns a :class:`RegimeSpec` plus what is known of the base run into a
complete, written-out retraining recipe (design rule 1: no hidden defaults).

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
from dataclasses import dataclass
from typing import Callable

from .. import schedule as sched
from ..config import TrainSpec
from ..errors import ConfigError
from ..registry import Registry
from .spec import RegimeSpec


@dataclass(frozen=True)
class RegimeContext:
    base_train: TrainSpec | None  # the recipe that made the base model (None: unknown)
    dense_macs: int
    pruned_macs: int
    seed: int


@dataclass(frozen=True)
class Resolved:
    """What a regime decided: where the weights come from and the full retraining recipe."""

    start: str  # "final" (pruned final dense weights), "snapshot" (pruned weights at base epoch), "fresh"
    snapshot_epoch: int | None
    retrain: TrainSpec
    pretrain_epochs: int  # dense epochs spent before the sparsifying action (0 for scratch)


REGIMES: Registry[Callable[[RegimeSpec, RegimeContext], Resolved]] = Registry("regime")


def _need_base(ctx: RegimeContext, regime: RegimeSpec) -> TrainSpec:
    if ctx.base_train is None:
        raise ConfigError(f"regime {regime.name!r} needs the base model's training recipe, which is unknown for this base")
    return ctx.base_train


def _recipe(regime: RegimeSpec, ctx: RegimeContext, epochs: int, schedule: str) -> TrainSpec:
    """The retraining TrainSpec: optimizer settings from the regime, else from the base recipe."""
    base = ctx.base_train or TrainSpec()
    if regime.extend:
        schedule = sched.extend_first_stage(schedule, regime.extend)
        epochs += regime.extend
    return TrainSpec(
        epochs=epochs,
        lr_schedule=schedule,
        batch_size=regime.batch_size or base.batch_size,
        momentum=base.momentum if regime.momentum is None else regime.momentum,
        nesterov=base.nesterov if regime.nesterov is None else regime.nesterov,
        weight_decay=base.weight_decay if regime.weight_decay is None else regime.weight_decay,
        seed=ctx.seed,
        device=base.device,
    )


def _explicit_schedule(regime: RegimeSpec, ctx: RegimeContext, epochs: int) -> str | None:
    if regime.lr_schedule is not None:
        return regime.lr_schedule
    if regime.lr is not None:
        final = regime.final_lr
        if final is None:
            final = _need_base(ctx, regime).schedule.final_lr
        return sched.derive(regime.lr, final, epochs)
    return None


def stretch(schedule: str, from_epochs: int, to_epochs: int) -> str:
    """A step schedule with its boundaries scaled from a run of ``from_epochs`` to ``to_epochs``
    (decays stay at the same fractions of the run: Liu et al.'s Scratch-E/B practice)."""
    s = sched.parse(schedule)
    if from_epochs < 1:
        raise ConfigError("a scratch regime needs a base recipe of at least 1 epoch to stretch")
    if s.kind == "cosine" or from_epochs == to_epochs:
        return str(s)
    points, last = [], -1
    for key, lr in s.points:
        new = round(key * to_epochs / from_epochs)
        if new <= last:
            new = last + 1
        points.append((new, lr))
        last = new
    return str(sched.Schedule("step", tuple(points)))


@REGIMES.register("retrain")
def _retrain(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    if regime.epochs is None:
        raise ConfigError("regime 'retrain' needs epochs")
    schedule = _explicit_schedule(regime, ctx, regime.epochs)
    if schedule is None:
        raise ConfigError("regime 'retrain' needs lr_schedule or lr")
    base_epochs = ctx.base_train.epochs if ctx.base_train else 0
    return Resolved("final", None, _recipe(regime, ctx, regime.epochs, schedule), base_epochs)


@REGIMES.register("lr-rewind")
def _lr_rewind(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    base = _need_base(ctx, regime)
    t = regime.epochs
    if t is None or not 0 < t <= base.epochs:
        raise ConfigError(f"regime 'lr-rewind' needs epochs in 1..{base.epochs} (the base run's length), got {t}")
    schedule = str(base.schedule.tail(base.epochs - t))
    return Resolved("final", None, _recipe(regime, ctx, t, schedule), base.epochs)


def _from_snapshot(regime: RegimeSpec, ctx: RegimeContext, field: str) -> tuple[TrainSpec, int, int, str]:
    """Shared by weight rewinding and PxFy: the base epoch to start from (the regime's ``field``) and,
    unless the regime says otherwise, the rest of the base run: ``K1 - e`` epochs of its schedule's tail."""
    base = _need_base(ctx, regime)
    e = getattr(regime, field)
    if e is None or not 0 <= e < base.epochs:
        raise ConfigError(f"regime {regime.name!r} needs {field} in 0..{base.epochs - 1}, got {e}")
    epochs = regime.epochs if regime.epochs is not None else base.epochs - e
    schedule = _explicit_schedule(regime, ctx, epochs) or str(base.schedule.tail(e))
    return base, e, epochs, schedule


@REGIMES.register("weight-rewind")
def _weight_rewind(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    base, k, epochs, schedule = _from_snapshot(regime, ctx, "rewind_epoch")
    return Resolved("snapshot", k, _recipe(regime, ctx, epochs, schedule), base.epochs)


def scratch_b_epochs(k1: int, f1: float, f2: float, k2: int, formula: str) -> int:
    """Scratch-B budget. paper: K1*F1/F2 + K2 (rounded to the nearest epoch); liu: int(K1*F1/F2)."""
    if f2 <= 0:
        raise ConfigError("scratch-b needs the pruned model's MACs to be > 0")
    if formula == "liu":
        return int(k1 * f1 / f2)
    return int(math.floor(k1 * f1 / f2 + k2 + 0.5))


def _scratch(regime: RegimeSpec, ctx: RegimeContext, epochs: int) -> Resolved:
    base = _need_base(ctx, regime)
    schedule = regime.lr_schedule or stretch(base.lr_schedule, base.epochs, epochs)
    return Resolved("fresh", None, _recipe(regime, ctx, epochs, schedule), 0)


@REGIMES.register("scratch-e")
def _scratch_e(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    base = _need_base(ctx, regime)
    return _scratch(regime, ctx, base.epochs + (regime.epochs or 0))


@REGIMES.register("scratch-b")
def _scratch_b(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    base = _need_base(ctx, regime)
    epochs = scratch_b_epochs(base.epochs, ctx.dense_macs, ctx.pruned_macs, regime.epochs or 0, regime.scratch_b)
    return _scratch(regime, ctx, epochs)


@REGIMES.register("pxfy")
def _pxfy(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    _, x, y, schedule = _from_snapshot(regime, ctx, "prune_epoch")
    if not regime.squeeze:
        return Resolved("snapshot", x, _recipe(regime, ctx, y, schedule), x)
    start = squeezed_epoch(x, ctx.dense_macs, ctx.pruned_macs)
    y = max(1, int(math.floor(y + x - start * ctx.dense_macs / ctx.pruned_macs + 0.5)))
    return Resolved("snapshot", start, _recipe(regime, ctx, y, schedule), start)


def squeezed_epoch(x: int, dense_macs: float, pruned_macs: float) -> int:
    """The pruning epoch divided by the MACs speedup, to the nearest epoch."""
    return int(math.floor(x * pruned_macs / dense_macs + 0.5))


def resolve(regime: RegimeSpec, ctx: RegimeContext) -> Resolved:
    return REGIMES.get(regime.name)(regime, ctx)


def snapshot_epochs(regime: RegimeSpec) -> set[int]:
    """Base-run epochs whose weights this regime needs kept."""
    if regime.name == "pxfy" and regime.prune_epoch is not None:
        # squeezed: the epoch depends on the speedup, known only after pruning; keep them all
        return set(range(regime.prune_epoch + 1)) if regime.squeeze else {regime.prune_epoch}
    if regime.name == "weight-rewind" and regime.rewind_epoch is not None:
        return {regime.rewind_epoch}
    return set()

"""Iterative magnitude pruning with rewinding (Frankle et al. 2020: weight rewinding; Renda et al.
2020: LR rewinding). The stage is ``rounds`` rounds of ``epochs`` epochs each; round r (1-based)
begins by pruning to the ratio ``1 - (1 - ratio) ** (r / rounds)`` -- round r keeps ``(1 - p) ** r``
of the targeted weights (or filters), ``p = 1 - (1 - ratio) ** (1 / rounds)`` -- what was pruned
stays pruned; then

* ``rewind: weight``: the surviving weights (and biases, BN) go back to the base run's epoch
  ``rewind_epoch`` snapshot; ``rewind: lr``: the weights stay;
* the optimizer's momentum is cleared and the round trains on the stage's LR schedule from its
  start (for ``rewind: weight`` by default the base schedule's tail from ``rewind_epoch``, and
  ``epochs`` = base epochs - rewind_epoch; for ``rewind: lr`` the base schedule's last ``epochs``).

``epochs`` and ``lr_schedule`` are per round; the stage's recorded recipe is the round repeated.
Masks hold at exactly zero after every step. The cut after the last round keeps the masks (weight
granularity) or removes the masked filters (filter granularity: Renda's structured variant,
ranked by the spec's criterion).
"""
from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from ... import schedule as sched
from ...errors import ConfigError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting
from .masking import StageMasks, check_weight_criterion


class IMPArgs(StageArgs):
    epochs: int | None = Field(default=None, ge=1, le=10_000)  # per round; default from the base run
    lr_schedule: str | None = None  # per round; default from the base run (see the module doc)
    rounds: int = Field(default=3, ge=1, le=100)
    rewind: Literal["weight", "lr"] = "weight"
    rewind_epoch: int = Field(default=0, ge=0)


def round_ratio(r: int, rounds: int, ratio: float) -> float:
    """The ratio pruned once round r (1-based) has pruned: 1 - (1 - ratio)^(r / rounds)."""
    return ratio if r == rounds else 1.0 - (1.0 - ratio) ** (r / rounds)


class IMPHooks(Hooks):
    def __init__(self, args: Any, ctx: StageContext, round_epochs: int) -> None:
        self.args, self.ctx, self.round_epochs = args, ctx, round_epochs
        self.masks = StageMasks(ctx.prune, ctx.input_shape)
        self.final = ctx.prune.form().uniform
        self.acc = EpochAccounting(ctx.input_shape)
        self.rounds: list[dict[str, Any]] = []
        self._rewind: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def _begin_round(self, state: Any, r: int) -> None:
        model = state.model
        self.masks.update(model, round_ratio(r, self.args.rounds, self.final), self.ctx.seed, self.ctx.batches)
        if self.args.rewind == "weight":
            if self._rewind is None:
                self._rewind = self.ctx.snapshot(self.args.rewind_epoch)
            device = next(model.parameters()).device
            model.load_state_dict({k: v.to(device) for k, v in self._rewind.items()})
        self.masks.apply_(model)
        state.optimizer.state.clear()  # each round trains afresh from the rewind point
        self.rounds.append({"round": r, "epoch": state.epoch, "kept": 1.0 - self.masks.fraction(model)})

    def on_train_start(self, state: Any) -> None:
        saved = state.carry.get("imp")
        if saved is not None:
            self.masks.load_json(saved["removed"])
            self.rounds = list(saved["rounds"])
            self.masks.apply_(state.model)
        elif state.epoch == 0:
            self._begin_round(state, 1)
        self.acc.start(state.model)

    def on_step_end(self, state: Any) -> None:
        self.masks.apply_(state.model)

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, None)
        record["round"] = (state.epoch - 1) // self.round_epochs + 1
        if state.epoch < state.spec.epochs and state.epoch % self.round_epochs == 0:
            self._begin_round(state, state.epoch // self.round_epochs + 1)
            self.acc.after_update(state.model)
        state.carry["imp"] = {"removed": self.masks.to_json(), "rounds": self.rounds}


@register_method
class IMP(Method):
    name = "imp"
    description = "iterative magnitude pruning in rounds with weight or LR rewinding (Frankle et al. 2020; Renda et al. 2020)"
    Args = IMPArgs
    example = {"epochs": 1, "lr_schedule": "0:0.01", "rounds": 2, "rewind": "lr"}
    strength = "round r keeps (1 - p)^r, p = 1 - (1 - ratio)^(1/rounds)"

    def check_prune(self, args: Any, prune: Any) -> None:
        if prune.form().kind != "uniform":
            raise ConfigError("method 'imp' needs one float ratio (its final sparsity)")
        check_weight_criterion("imp", prune)

    def snapshots(self, args: Any) -> set[int]:
        return {args.rewind_epoch} if args.rewind == "weight" else set()

    def round_schedule(self, args: Any, base: Any) -> tuple[int, str]:
        if args.epochs is not None and args.lr_schedule is not None:
            return args.epochs, args.lr_schedule
        if base is None:
            raise ConfigError("method 'imp': without a base recipe give epochs and lr_schedule (per round)")
        if args.rewind == "weight":
            k = args.rewind_epoch
            if k >= base.epochs:
                raise ConfigError(f"method 'imp': rewind_epoch {k} must be below the base run's {base.epochs} epochs")
            epochs = args.epochs if args.epochs is not None else base.epochs - k
            schedule = args.lr_schedule or str(base.schedule.tail(k))
        else:
            epochs = args.epochs if args.epochs is not None else base.epochs
            if epochs > base.epochs:
                raise ConfigError(f"method 'imp': LR rewinding of {epochs} epochs is longer than the base run ({base.epochs})")
            schedule = args.lr_schedule or str(base.schedule.tail(base.epochs - epochs))
        return epochs, schedule

    def stage_schedule(self, args: Any, base: Any) -> tuple[int, str]:
        epochs, schedule = self.round_schedule(args, base)
        lrs = sched.parse(schedule).lrs(epochs)
        return epochs * args.rounds, sched.from_lrs(lrs * args.rounds)

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return IMPHooks(args, ctx, ctx.notes["round_epochs"])

    def finish(self, args: Any, model: nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        from ..api import prune

        return prune(model, ctx.prune, seed=ctx.seed, input_shape=ctx.input_shape, chosen=hooks.masks.chosen(model))

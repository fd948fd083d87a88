"""AGP, gradual magnitude pruning (Zhu & Gupta 2017), epoch-indexed as Distiller's schedule: at
every update epoch e in {start, start + frequency, ..., end} the target is

    s(e) = s_f + (s_i - s_f) * (1 - (e - start) / (end - start)) ** 3

(s_f = the prune spec's uniform ratio, s_i = ``initial_sparsity``), and every targeted layer's
lowest-scoring entries are masked up to s(e) (filters by the spec's criterion, or weights by |w|;
what is masked stays masked). Masks hold at exactly zero after every step. An update at epoch e
happens before epoch e trains; the one at ``end`` (default: the stage's last epoch boundary) is the
cut. Masked filters are physically removed at the end; masked weights stay masks.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from torch import nn

from ...errors import ConfigError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting
from .masking import StageMasks, check_weight_criterion


class AGPArgs(StageArgs):
    initial_sparsity: float = Field(default=0.0, ge=0, lt=1)
    start_epoch: int = Field(default=0, ge=0)
    end_epoch: int | None = Field(default=None, ge=1)  # default: the stage's length
    frequency: int = Field(default=1, ge=1)  # epochs between updates

    @model_validator(mode="after")
    def _window(self) -> "AGPArgs":
        end = self.end if self.epochs is not None else None
        if end is not None and end > self.epochs:
            raise ValueError(f"AGP's window ends at epoch {end}, after the pruning stage's {self.epochs} epochs")
        if end is not None and self.start_epoch >= end:
            raise ValueError(f"AGP's start_epoch {self.start_epoch} must come before its end_epoch {end}")
        return self

    @property
    def end(self) -> int:
        return self.end_epoch if self.end_epoch is not None else self.epochs


def agp_target(e: int, final: float, a: Any) -> float | None:
    """The target at epoch boundary e, or None when e is not an update epoch."""
    if e < a.start_epoch or e > a.end or (e - a.start_epoch) % a.frequency and e != a.end:
        return None
    p = (e - a.start_epoch) / (a.end - a.start_epoch)
    return final + (a.initial_sparsity - final) * (1 - p) ** 3


class AGPHooks(Hooks):
    def __init__(self, args: Any, ctx: StageContext) -> None:
        self.args, self.ctx = args, ctx
        self.masks = StageMasks(ctx.prune, ctx.input_shape)
        self.final = ctx.prune.form().uniform
        self.acc = EpochAccounting(ctx.input_shape)
        self.updates: list[dict[str, Any]] = []
        self.target = 0.0

    def _update(self, model: nn.Module, e: int) -> None:
        target = agp_target(e, self.final, self.args)
        if target is None:
            return
        self.target = target
        self.masks.update(model, target, self.ctx.seed, self.ctx.batches)
        self.masks.apply_(model)
        self.updates.append({"epoch": e, "target": target, "achieved": self.masks.fraction(model)})

    def on_train_start(self, state: Any) -> None:
        saved = state.carry.get("agp")
        if saved is not None:
            self.masks.load_json(saved["removed"])
            self.updates, self.target = list(saved["updates"]), saved["target"]
            self.masks.apply_(state.model)
        else:
            self._update(state.model, 0)
        self.acc.start(state.model)

    def on_step_end(self, state: Any) -> None:
        self.masks.apply_(state.model)

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, None)
        record["target_sparsity"] = self.target
        self._update(state.model, state.epoch)  # the boundary before the next epoch (or the cut)
        self.acc.after_update(state.model)
        state.carry["agp"] = {"removed": self.masks.to_json(), "updates": self.updates, "target": self.target}


@register_method
class AGP(Method):
    name = "agp"
    description = "gradual pruning to the spec's ratio on the cubic schedule, masks held through the stage (Zhu & Gupta 2017)"
    Args = AGPArgs
    example = {"epochs": 2}
    strength = "target s(e) = s_f + (s_i - s_f) (1 - (e - start)/(end - start))^3 at update epochs"

    def check_prune(self, args: Any, prune: Any) -> None:
        if prune.form().kind != "uniform":
            raise ConfigError("method 'agp' needs one float ratio (its final sparsity)")
        check_weight_criterion("agp", prune)
        if args.initial_sparsity > prune.form().uniform:
            raise ConfigError("method 'agp': initial_sparsity is above the final ratio")

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return AGPHooks(args, ctx)

    def finish(self, args: Any, model: nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        from ..api import prune

        return prune(model, ctx.prune, seed=ctx.seed, input_shape=ctx.input_shape, chosen=hooks.masks.chosen(model))

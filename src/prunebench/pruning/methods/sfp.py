"""SFP, soft filter pruning (He et al. 2018): before the first stage epoch and after every epoch,
each targeted layer's lowest-scoring filters (the spec's criterion; the reference uses the L2 norm,
``criterion: l2``) have their weights set to zero -- conv weights only, BN untouched, gradients not
masked, so a zeroed filter trains again in the next epoch and the next ranking may pick others.
After the last epoch the filters zeroed then are physically removed. Counts per layer are
prunebench's ``ceil(ratio * n)`` (the reference: ``int(n * (1 - rate))`` with rate = kept).

A zeroed filter's channel is constant (its BN's beta) after the BN: behind a ReLU with beta <= 0
it gets no gradient and cannot regrow; the stage history's ``reselected`` counts filters that left
the zeroed set at each epoch."""
from __future__ import annotations

from typing import Any

from torch import nn

from ...errors import ConfigError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting, filter_scores, lowest_filters, targets, zero_rows_


class SFPArgs(StageArgs):
    pass


class SFPHooks(Hooks):
    def __init__(self, ctx: StageContext, model: nn.Module) -> None:
        self.ctx = ctx
        plan = targets(model, ctx.prune, ctx.input_shape)
        self.layers, self.counts = list(plan), {n: k for n, (_, k) in plan.items()}
        self.zeroed: dict[str, list[int]] = {}
        self.acc = EpochAccounting(ctx.input_shape)

    def zero(self, model: nn.Module) -> int:
        """Re-rank and zero; returns how many filters of the previous zeroed set were not chosen again."""
        scores = filter_scores(model, self.ctx.prune, self.layers, self.ctx.input_shape, self.ctx.seed, self.ctx.batches)
        new = lowest_filters(scores, self.counts)
        changed = sum(len(set(self.zeroed.get(n, [])) - set(new.get(n, []))) for n in self.layers)
        for name, rows in new.items():
            zero_rows_(model.get_submodule(name), rows)
        self.zeroed = new
        return changed

    def on_train_start(self, state: Any) -> None:
        saved = state.carry.get("sfp")
        if saved is not None:
            self.zeroed = {n: list(v) for n, v in saved["zeroed"].items()}
        elif state.epoch == 0:
            self.zero(state.model)
        self.acc.start(state.model)

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, None)
        record["reselected"] = self.zero(state.model)
        self.acc.after_update(state.model)
        state.carry["sfp"] = {"zeroed": self.zeroed}


@register_method
class SFP(Method):
    name = "sfp"
    description = "zero the lowest filters after every stage epoch, let them train again, remove them at the end (He et al. 2018)"
    Args = SFPArgs
    example = {"epochs": 2}
    strength = "none (hard zeroing each epoch, no penalty)"

    def check_prune(self, args: Any, prune: Any) -> None:
        if prune.granularity != "filter":
            raise ConfigError("method 'sfp' prunes filters (granularity filter)")

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return SFPHooks(ctx, model)

    def finish(self, args: Any, model: nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        from ..api import prune

        return prune(model, ctx.prune, seed=ctx.seed, input_shape=ctx.input_shape, chosen=hooks.zeroed)

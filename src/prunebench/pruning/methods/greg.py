"""GReg-1 and GReg-2 (Wang et al., ICLR 2021): a growing L2 penalty added to the gradients
(``grad(W_j) += lambda_j * W_j`` after backward, before the step; biases and BN are not regularised)
until the to-be-pruned filters are negligible, then the cut.

The strength follows the reference code (``pruner/reg_pruner.py``): an update runs at every
iteration ``t`` with ``t % interval == 0`` (so the first at t = 0), before that step's penalty.

* GReg-1: the pruned filters are chosen once at the start (the prune spec's criterion, L1 by
  default); each update adds ``delta`` to their lambda until lambda exceeds ``ceiling``.
* GReg-2: each update first adds ``pick_delta`` to a uniform lambda on every filter of a pruned
  layer; at the update where it reaches ``pick_ceiling`` the pruned filters are picked (lowest L1
  then); afterwards each update adds ``delta`` to the pruned filters' lambda (continuing from the
  picking value) and *sets* the kept filters' lambda to ``recover`` (negative: their norm recovers),
  until the pruned lambda exceeds ``ceiling``.

The rest of the stage keeps lambda constant (the reference's stabilisation, ``K_s`` iterations, is
the rest of the stage here). Not implemented: the reference's early exit when the EMA magnitude
ratio of kept to pruned filters reaches ``mag_ratio_limit`` (the ramp always runs to the ceiling).
Counts per layer are prunebench's (``ceil(ratio * n)``, at most n - 1), as in the one-shot arm.
"""
from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from ...errors import ConfigError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting, filter_scores, lowest_filters, row_mask, targets


class GRegArgs(StageArgs):
    lr_schedule: str = "0:0.001"
    delta: float = Field(default=1e-4, gt=0)  # reg_granularity_prune
    interval: int = Field(default=10, ge=1)  # update_reg_interval (K_u)
    ceiling: float = Field(default=1.0, gt=0)  # reg_upper_limit (tau)


class GReg2Args(GRegArgs):
    pick_delta: float = Field(default=1e-5, gt=0)  # reg_granularity_pick
    pick_ceiling: float = Field(default=1e-2, gt=0)  # reg_upper_limit_pick (tau')
    recover: float = Field(default=-1e-4, le=0)  # reg_granularity_recover: the kept filters' lambda


def first_above(delta: float, ceiling: float, start: float = 0.0, strict: bool = True) -> int:
    """The number n of updates after which ``start + delta * n`` passes ``ceiling`` (> or >=)."""
    n = max(0, int((ceiling - start) / delta) - 1)
    while not ((start + delta * n > ceiling) if strict else (start + delta * n >= ceiling)):
        n += 1
    return n


def greg1_strength(t: int, delta: float, interval: int, ceiling: float) -> float:
    """lambda of the pruned filters at iteration t (after that iteration's update)."""
    updates = min(t // interval + 1, first_above(delta, ceiling))
    return delta * updates


def greg1_ramp_iterations(delta: float, interval: int, ceiling: float) -> int:
    """Iterations until the last update has happened."""
    return (first_above(delta, ceiling) - 1) * interval + 1


def greg2_pick_iteration(a: Any) -> int:
    return (first_above(a.pick_delta, a.pick_ceiling, strict=False) - 1) * a.interval


def greg2_strength(t: int, a: Any) -> tuple[float, float | None]:
    """(lambda of the pruned filters, lambda of the kept ones) at iteration t; before the pick both
    are the uniform picking lambda, reported as (lambda, None)."""
    n_pick = first_above(a.pick_delta, a.pick_ceiling, strict=False)
    n = t // a.interval + 1
    if n <= n_pick:
        return a.pick_delta * n, None
    start = a.pick_delta * n_pick
    m = min(n - n_pick, first_above(a.delta, a.ceiling, start=start))
    return start + a.delta * m, a.recover


def greg2_ramp_iterations(a: Any) -> int:
    n_pick = first_above(a.pick_delta, a.pick_ceiling, strict=False)
    m = first_above(a.delta, a.ceiling, start=a.pick_delta * n_pick)
    return (n_pick + m - 1) * a.interval + 1


class GRegHooks(Hooks):
    def __init__(self, method: "GReg1", args: Any, model: nn.Module, ctx: StageContext) -> None:
        self.method, self.args, self.ctx = method, args, ctx
        self.layers = list(targets(model, ctx.prune, ctx.input_shape))
        self.counts = {n: k for n, (_, k) in targets(model, ctx.prune, ctx.input_shape).items()}
        self.pruned: dict[str, list[int]] | None = None
        self.acc = EpochAccounting(ctx.input_shape)
        self.last = 0.0

    def pick(self, model: nn.Module) -> None:
        scores = filter_scores(model, self.ctx.prune, self.layers, self.ctx.input_shape, self.ctx.seed, self.ctx.batches)
        self.pruned = lowest_filters(scores, self.counts)

    def on_train_start(self, state: Any) -> None:
        saved = state.carry.get(self.method.name)
        if saved is not None and saved.get("pruned") is not None:
            self.pruned = {n: list(v) for n, v in saved["pruned"].items()}
        elif self.method.pick_at_start:
            self.pick(state.model)
        self.acc.start(state.model)

    def factors(self, t: int, model: nn.Module) -> tuple[float, float | None]:
        return greg1_strength(t, self.args.delta, self.args.interval, self.args.ceiling), 0.0

    @torch.no_grad()
    def on_after_backward(self, state: Any) -> None:
        lam_pruned, lam_kept = self.factors(state.step, state.model)
        self.last = lam_pruned
        for name in self.layers:
            w = state.model.get_submodule(name).weight
            if w.grad is None:
                continue
            if lam_kept is None:  # uniform (GReg-2 picking)
                w.grad.add_(w, alpha=lam_pruned)
                continue
            m = row_mask(w, self.pruned.get(name, []))
            w.grad.add_(w * (lam_pruned * m + lam_kept * (1 - m)))

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, self.last)
        state.carry[self.method.name] = {"pruned": self.pruned}


class GReg2Hooks(GRegHooks):
    def factors(self, t: int, model: nn.Module) -> tuple[float, float | None]:
        lam, kept = greg2_strength(t, self.args)
        if kept is None and t == greg2_pick_iteration(self.args):
            self.pick(model)  # at the update where the picking lambda reaches its ceiling
        if kept is None:
            return lam, None
        return lam, kept


@register_method
class GReg1(Method):
    name = "greg-1"
    description = "growing L2 on the gradients of filters chosen by L1 at the start, then the cut (Wang et al. 2021)"
    Args = GRegArgs
    example = {"epochs": 2, "delta": 0.25, "interval": 1}
    strength = "lambda = delta * (t // interval + 1), capped at the first value above ceiling"
    pick_at_start = True

    def ramp(self, args: Any) -> int:
        return greg1_ramp_iterations(args.delta, args.interval, args.ceiling)

    def check_prune(self, args: Any, prune: Any) -> None:
        if prune.granularity != "filter":
            raise ConfigError(f"method {self.name!r} prunes filters (granularity filter)")

    def check(self, args: Any, ctx: StageContext) -> None:
        need, have = self.ramp(args), args.epochs * ctx.steps_per_epoch
        if have < need:
            raise ConfigError(f"method {self.name!r}: its strength ramp needs {need} iterations, but the pruning stage has "
                              f"{have} ({args.epochs} epochs x {ctx.steps_per_epoch}); add epochs or raise delta")

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return GRegHooks(self, args, model, ctx)

    def finish(self, args: Any, model: nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        from ..api import prune

        return prune(model, ctx.prune, seed=ctx.seed, input_shape=ctx.input_shape, chosen=hooks.pruned)


@register_method
class GReg2(GReg1):
    name = "greg-2"
    description = "uniform growing L2 to pick the filters, then growing L2 on the picked and recovery on the rest (Wang et al. 2021)"
    Args = GReg2Args
    example = {"epochs": 2, "delta": 0.25, "interval": 1, "pick_delta": 0.25, "pick_ceiling": 0.5}
    strength = "picking: pick_delta per update to pick_ceiling; then pruned += delta per update to ceiling, kept = recover"
    pick_at_start = False

    def ramp(self, args: Any) -> int:
        return greg2_ramp_iterations(args)

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return GReg2Hooks(self, args, model, ctx)

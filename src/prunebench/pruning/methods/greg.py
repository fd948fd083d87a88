"""GReg-1 and GReg-2 (Wang et al., ICLR 2021): a growing L2 penalty added to the gradients
(``grad(W_j) += lambda_j * W_j`` after backward, before the step; biases and BN are not regularised)
until the to-be-pruned filters are negligible, then the cut.

The strength follows the reference code (``pruner/reg_pruner.py``): an update runs at every
iteration ``t`` with ``t % interval == 0`` (so the first at t = 0), before that step's penalty; the
factors are accumulated in float32 as the reference's ``reg`` tensor is (so 10,000 additions of 1e-4
pass 1.0, not 10,001 as exact arithmetic would say).

* GReg-1: the pruned filters are chosen once at the start (the prune spec's criterion, L1 by
  default); each update adds ``delta`` to their lambda. A layer stops updating when its lambda
  exceeds ``ceiling``, or when every pruned layer's magnitude ratio (mean |w| of kept filters over
  that of pruned filters, an EMA 0.9 old + 0.1 new, updated before each increment) has reached
  ``mag_ratio_limit`` (None: never).
* GReg-2: each update first adds ``pick_delta`` to a uniform lambda on every filter of a pruned
  layer; at the update where it reaches ``pick_ceiling`` the pruned filters are picked (the spec's
  criterion then); afterwards each update adds ``delta`` to the pruned filters' lambda (continuing
  from the picking value) and *sets* the kept filters' lambda to ``recover`` (negative: their norm
  recovers); a layer stops once picked and (its lambda exceeds ``ceiling`` or its magnitude ratio
  reaches ``mag_ratio_limit``).

The rest of the stage keeps lambda constant (the reference's stabilisation, ``K_s`` iterations, is
the rest of the stage here). Counts per layer are prunebench's (``ceil(ratio * n)``, at most n - 1),
as in the one-shot arm.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from ...errors import ConfigError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting, filter_scores, lowest_filters, row_mask, targets

#: Longest strength ramp accepted (updates): beyond it the stage could never hold it anyway.
MAX_UPDATES = 2_000_000


class GRegArgs(StageArgs):
    lr_schedule: str = "0:0.001"
    delta: float = Field(default=1e-4, gt=0)  # reg_granularity_prune
    interval: int = Field(default=10, ge=1)  # update_reg_interval (K_u)
    ceiling: float = Field(default=1.0, gt=0)  # reg_upper_limit (tau)
    mag_ratio_limit: float | None = Field(default=1000.0, gt=0)  # None: the ramp always runs to the ceiling


class GReg2Args(GRegArgs):
    pick_delta: float = Field(default=1e-5, gt=0)  # reg_granularity_pick
    pick_ceiling: float = Field(default=1e-2, gt=0)  # reg_upper_limit_pick (tau')
    recover: float = Field(default=-1e-4, le=0)  # reg_granularity_recover: the kept filters' lambda


@lru_cache(maxsize=64)
def ramp(delta: float, ceiling: float, start: float = 0.0, strict: bool = True) -> tuple[float, ...]:
    """Float32 values start, start + delta, ... up to and including the first that passes ``ceiling``
    (``>``, or ``>=`` when not strict), accumulated one addition at a time as the reference does."""
    v, d, c = np.float32(start), np.float32(delta), np.float32(ceiling)
    out = [float(v)]
    while not (v > c if strict else v >= c):
        if len(out) > MAX_UPDATES:
            raise ConfigError(f"a strength ramp from {start:g} by {delta:g} to {ceiling:g} takes more than {MAX_UPDATES} updates")
        v = np.float32(v + d)
        out.append(float(v))
    return tuple(out)


def first_above(delta: float, ceiling: float, start: float = 0.0, strict: bool = True) -> int:
    """The number of updates after which the float32 ramp passes ``ceiling``."""
    return len(ramp(delta, ceiling, start, strict)) - 1


def greg1_strength(t: int, delta: float, interval: int, ceiling: float) -> float:
    """lambda of the pruned filters at iteration t (after that iteration's update), magnitude-ratio
    exit off."""
    values = ramp(delta, ceiling)
    return values[min(t // interval + 1, len(values) - 1)]


def greg1_ramp_iterations(delta: float, interval: int, ceiling: float) -> int:
    """Iterations until the last update has happened (magnitude-ratio exit off: the longest ramp)."""
    return (first_above(delta, ceiling) - 1) * interval + 1


def _pick_ramp(a: Any) -> tuple[float, ...]:
    return ramp(a.pick_delta, a.pick_ceiling, strict=False)


def _post_ramp(a: Any) -> tuple[float, ...]:
    return ramp(a.delta, a.ceiling, start=_pick_ramp(a)[-1])


def greg2_pick_iteration(a: Any) -> int:
    return (len(_pick_ramp(a)) - 2) * a.interval


def greg2_strength(t: int, a: Any) -> tuple[float, float | None]:
    """(lambda of the pruned filters, lambda of the kept ones) at iteration t, magnitude-ratio exit
    off; before (and at) the pick both are the uniform picking lambda, reported as (lambda, None)."""
    pick, post = _pick_ramp(a), _post_ramp(a)
    n = t // a.interval + 1
    if n <= len(pick) - 1:
        return pick[n], None
    return post[min(n - (len(pick) - 1), len(post) - 1)], a.recover


def greg2_ramp_iterations(a: Any) -> int:
    return (len(_pick_ramp(a)) - 1 + len(_post_ramp(a)) - 1 - 1) * a.interval + 1


def filter_magnitudes(weight: torch.Tensor) -> torch.Tensor:
    """Mean |w| of each output filter (the reference's score for the magnitude ratio)."""
    return weight.detach().abs().reshape(weight.shape[0], -1).mean(1)


def magnitude_ratio(w_abs: torch.Tensor, pruned: list[int]) -> float:
    keep = torch.ones(len(w_abs), dtype=torch.bool, device=w_abs.device)
    keep[torch.as_tensor(pruned, device=w_abs.device, dtype=torch.long)] = False
    low = float(w_abs[~keep].mean())
    return float(w_abs[keep].mean()) / low if low > 0 else float("inf")


class GRegHooks(Hooks):
    """Per layer: updates applied, magnitude-ratio EMA, finished; all carried in the checkpoint."""

    def __init__(self, method: "GReg1", args: Any, model: nn.Module, ctx: StageContext) -> None:
        self.method, self.args, self.ctx = method, args, ctx
        plan = targets(model, ctx.prune, ctx.input_shape)
        self.layers, self.counts = list(plan), {n: k for n, (_, k) in plan.items()}
        self.pruned: dict[str, list[int]] | None = None
        self.layer = {n: {"n": 0, "hist": None, "done": False, "picked": False, "post": 0} for n in self.layers}
        self.acc = EpochAccounting(ctx.input_shape)

    def pick(self, model: nn.Module, names: list[str] | None = None) -> None:
        names = names or self.layers
        scores = filter_scores(model, self.ctx.prune, names, self.ctx.input_shape, self.ctx.seed, self.ctx.batches)
        self.pruned = {**(self.pruned or {}), **lowest_filters(scores, {n: self.counts[n] for n in names})}

    def on_train_start(self, state: Any) -> None:
        saved = state.carry.get(self.method.name)
        if saved is not None:
            self.pruned = None if saved["pruned"] is None else {n: list(v) for n, v in saved["pruned"].items()}
            self.layer = {n: dict(v) for n, v in saved["layers"].items()}
        elif self.method.pick_at_start:
            self.pick(state.model)
        self.acc.start(state.model)

    def _hist(self, name: str, ratio: float) -> None:
        h = self.layer[name]["hist"]
        self.layer[name]["hist"] = ratio if h is None else h * 0.9 + ratio * 0.1

    def _limit_reached(self) -> bool:
        limit = self.args.mag_ratio_limit
        hists = [v["hist"] for v in self.layer.values() if v["hist"] is not None]
        return limit is not None and bool(hists) and all(h >= limit for h in hists)

    def update(self, model: nn.Module) -> None:
        values = ramp(self.args.delta, self.args.ceiling)
        for name in self.layers:
            st = self.layer[name]
            if st["done"]:
                continue
            self._hist(name, magnitude_ratio(filter_magnitudes(model.get_submodule(name).weight), self.pruned[name]))
            st["n"] += 1
            st["done"] = bool(self._limit_reached() or values[min(st["n"], len(values) - 1)] > np.float32(self.args.ceiling))

    def factors(self, name: str) -> tuple[float, float | None]:
        values = ramp(self.args.delta, self.args.ceiling)
        return values[min(self.layer[name]["n"], len(values) - 1)], 0.0

    @torch.no_grad()
    def on_after_backward(self, state: Any) -> None:
        if state.step % self.args.interval == 0:
            self.update(state.model)
        for name in self.layers:
            w = state.model.get_submodule(name).weight
            if w.grad is None:
                continue
            lam_pruned, lam_kept = self.factors(name)
            if lam_kept is None:  # uniform (GReg-2 picking)
                w.grad.add_(w, alpha=lam_pruned)
                continue
            m = row_mask(w, self.pruned.get(name, []))
            w.grad.add_(w * (lam_pruned * m + lam_kept * (1 - m)))

    def strength(self) -> float:
        return max(self.factors(n)[0] for n in self.layers) if self.layers else 0.0

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, self.strength())
        state.carry[self.method.name] = {"pruned": self.pruned, "layers": self.layer}


class GReg2Hooks(GRegHooks):
    def update(self, model: nn.Module) -> None:
        pick, post = _pick_ramp(self.args), _post_ramp(self.args)
        for name in self.layers:
            st = self.layer[name]
            if st["done"]:
                continue
            w_abs = filter_magnitudes(model.get_submodule(name).weight)
            if st["picked"]:
                st["post"] += 1
                self._hist(name, magnitude_ratio(w_abs, self.pruned[name]))
            else:
                st["n"] += 1
                tentative = torch.sort(w_abs.double().cpu(), stable=True).indices[: self.counts[name]].tolist()
                self._hist(name, magnitude_ratio(w_abs, tentative))
                if bool(pick[min(st["n"], len(pick) - 1)] >= np.float32(self.args.pick_ceiling)):
                    st["picked"] = True  # at the update where the picking lambda reaches its ceiling
                    self.pick(model, [name])
            lam = post[min(st["post"], len(post) - 1)]
            limit = self.args.mag_ratio_limit
            st["done"] = bool(st["picked"] and ((limit is not None and st["hist"] >= limit) or lam > np.float32(self.args.ceiling)))

    def factors(self, name: str) -> tuple[float, float | None]:
        st = self.layer[name]
        pick, post = _pick_ramp(self.args), _post_ramp(self.args)
        if not st["picked"] or st["post"] == 0:
            return pick[min(st["n"], len(pick) - 1)], None
        return post[min(st["post"], len(post) - 1)], self.args.recover


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

"""TPP, trainability-preserving pruning (Wang & Fu, ICLR 2023), as its reference code's default
(``--opp_scheme v5``):

* the pruned filters of each layer are chosen at the start (the prune spec's criterion, L1 by
  default) and stay fixed;
* loss += ``lw * lambda(t) * sum_l MSE(G_l, T_l)``: G = W W^T of the layer's flattened filters, T = G
  detached with the rows and columns of pruned filters set to 0 (the pruned filters are pushed to
  zero norm and orthogonal to the kept ones; the kept-kept block is free);
* gradients: ``grad += lambda * x`` for the pruned filters' weights and biases and the following
  BN's gamma and beta of those channels;
* ``lambda(t) = delta * (t // interval)``, recomputed at every ``t % interval == 0`` and held once it
  reaches ``ceiling`` (at t_s = interval * ceiling / delta);
* stabilisation: from t_s on, layer i (0-based, forward order) has its pruned filters and their BN
  gamma and beta set to 0 after every step once ``t - t_s >= (i + 1) * zero_out_interval``.
The stage must hold the ramp and every layer's zeroing (the reference refuses a shorter stage too).
Counts per layer are prunebench's ``ceil(ratio * n)`` (at most n - 1), as in the one-shot arm; the
reference caps at ``int(0.995 * n)``.
"""
from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from ...errors import ConfigError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting, filter_scores, following_bn, lowest_filters, row_mask, targets


class TPPArgs(StageArgs):
    lr_schedule: str = "0:0.001"
    delta: float = Field(default=1e-4, gt=0)  # reg_granularity_prune
    interval: int = Field(default=10, ge=1)  # update_reg_interval
    ceiling: float = Field(default=1.0, gt=0)  # reg_upper_limit
    lw: float = Field(default=1000.0, ge=0)  # lw_opp: weight of the Gram penalty
    zero_out_interval: int = Field(default=100, ge=1)


def _steps_to_ceiling(a: Any) -> int:
    """The smallest n with delta * n >= ceiling (the reference recomputes lambda, no accumulation)."""
    n = max(0, int(a.ceiling / a.delta) - 1)
    while a.delta * n < a.ceiling:
        n += 1
    return n


def tpp_strength(t: int, a: Any) -> float:
    return a.delta * min(t // a.interval, _steps_to_ceiling(a))


def tpp_ramp_end(a: Any) -> int:
    return _steps_to_ceiling(a) * a.interval


def gram_penalty(weight: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """MSE(G, T): T is G detached with every row and column of a pruned filter set to 0."""
    w = weight.reshape(weight.shape[0], -1)
    g = w @ w.t()
    k = kept.to(g.dtype).view(-1, 1)
    target = (g * (k @ k.t())).detach()
    return ((g - target) ** 2).mean()


class TPPHooks(Hooks):
    def __init__(self, args: Any, model: nn.Module, ctx: StageContext) -> None:
        self.args, self.ctx = args, ctx
        plan = targets(model, ctx.prune, ctx.input_shape)
        self.layers, self.counts = list(plan), {n: k for n, (_, k) in plan.items()}
        self.bns = following_bn(model, self.layers, ctx.input_shape)
        self.pruned: dict[str, list[int]] = {}
        self.acc = EpochAccounting(ctx.input_shape)
        self.lam = 0.0

    def on_train_start(self, state: Any) -> None:
        saved = state.carry.get("tpp")
        if saved is not None:
            self.pruned = {n: list(v) for n, v in saved["pruned"].items()}
        else:
            scores = filter_scores(state.model, self.ctx.prune, self.layers, self.ctx.input_shape, self.ctx.seed, self.ctx.batches)
            self.pruned = lowest_filters(scores, self.counts)
        self.acc.start(state.model)

    def penalty(self, state: Any) -> torch.Tensor | None:
        self.lam = tpp_strength(state.step, self.args)
        if self.lam == 0 or self.args.lw == 0:
            return None
        total = None
        for name, rows in self.pruned.items():
            w = state.model.get_submodule(name).weight
            kept = torch.ones(w.shape[0], device=w.device)
            kept[torch.as_tensor(rows, device=w.device)] = 0
            term = gram_penalty(w, kept)
            total = term if total is None else total + term
        return None if total is None else self.args.lw * self.lam * total

    @torch.no_grad()
    def on_after_backward(self, state: Any) -> None:
        lam = tpp_strength(state.step, self.args)
        for name, rows in self.pruned.items():
            mod = state.model.get_submodule(name)
            tensors = [mod.weight, getattr(mod, "bias", None)]
            bn = self.bns.get(name)
            if bn is not None:
                tensors += [bn.weight, bn.bias]
            for t in tensors:
                if t is not None and t.grad is not None:
                    t.grad.add_(t * row_mask(t, rows), alpha=lam)

    @torch.no_grad()
    def on_step_end(self, state: Any) -> None:
        t_s = tpp_ramp_end(self.args)
        s = state.step - 1 - t_s  # the step just taken was iteration state.step - 1
        if s < 0:
            return
        for i, name in enumerate(self.layers):
            if s >= (i + 1) * self.args.zero_out_interval and self.pruned.get(name):
                zero_group_(state.model.get_submodule(name), self.bns.get(name), self.pruned[name])

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, self.lam)
        state.carry["tpp"] = {"pruned": self.pruned}


@torch.no_grad()
def zero_group_(mod: nn.Module, bn: nn.Module | None, rows: list[int]) -> None:
    idx = torch.as_tensor(rows, device=mod.weight.device)
    for t in (mod.weight, getattr(mod, "bias", None), getattr(bn, "weight", None), getattr(bn, "bias", None)):
        if t is not None:
            t[idx] = 0


@register_method
class TPP(Method):
    name = "tpp"
    description = "Gram-matrix penalty plus growing L2 on filters chosen at the start, staged zeroing, then the cut (Wang & Fu 2023)"
    Args = TPPArgs
    example = {"epochs": 3, "delta": 0.25, "interval": 1, "zero_out_interval": 1}
    strength = "lambda = delta * (t // interval), held at ceiling; loss += lw * lambda * sum MSE(G, T)"

    def check_prune(self, args: Any, prune: Any) -> None:
        if prune.granularity != "filter":
            raise ConfigError("method 'tpp' prunes filters (granularity filter)")

    def check(self, args: Any, ctx: StageContext) -> None:
        n_layers = ctx.notes.get("layers", 1)  # the layers the prune spec targets
        need = tpp_ramp_end(args) + n_layers * args.zero_out_interval + 1
        have = args.epochs * ctx.steps_per_epoch
        if have < need:
            raise ConfigError(f"method 'tpp': its ramp and staged zeroing need {need} iterations, but the pruning stage has "
                              f"{have} ({args.epochs} epochs x {ctx.steps_per_epoch}); add epochs, raise delta or lower zero_out_interval")

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return TPPHooks(args, model, ctx)

    def finish(self, args: Any, model: nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        from ..api import prune

        return prune(model, ctx.prune, seed=ctx.seed, input_shape=ctx.input_shape, chosen=hooks.pruned)

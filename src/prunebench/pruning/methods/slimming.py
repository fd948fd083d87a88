"""Network slimming (Liu et al. 2017): an L1 penalty on every BatchNorm scale during the pruning
stage (sub-gradient ``grad(gamma) += s * sign(gamma)`` after backward, as the reference code's
``updateBN``; beta is not penalised), then one global threshold on |gamma| over the pruned layers.

Threshold as in the reference ``vggprune.py``: sort the N values of |gamma| ascending, take
``thre = sorted[int(N * percent)]`` and remove every channel with ``|gamma| <= thre`` -- the
``int(N * percent) + 1`` smallest when there are no ties. ``percent`` is the prune spec's uniform
ratio; the layers are those it targets. A layer is never emptied: its largest |gamma| stays.
"""
from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from ...errors import ConfigError, PruneError
from .base import Hooks, Method, StageArgs, StageContext, register_method
from .common import EpochAccounting, following_bn, targets


class SlimmingArgs(StageArgs):
    s: float = Field(default=1e-4, ge=0)  # the L1 strength on BN scales


def global_threshold(gammas: dict[str, torch.Tensor], percent: float) -> dict[str, list[int]]:
    """Removed channels per layer under the reference code's global rule (see the module doc)."""
    values = torch.cat([g.detach().abs().flatten().double().cpu() for g in gammas.values()])
    thre = torch.sort(values).values[int(len(values) * percent)]
    out = {}
    for name, g in gammas.items():
        a = g.detach().abs().double().cpu()
        gone = [int(i) for i in torch.nonzero(a <= thre).flatten()]
        if len(gone) == len(a):  # never empty a layer: keep its largest scale
            gone.remove(int(torch.argmax(a)))
        out[name] = gone
    return out


class SlimmingHooks(Hooks):
    def __init__(self, model: nn.Module, s: float, shape: tuple[int, ...]) -> None:
        self.s = s
        self.bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None]
        self.acc = EpochAccounting(shape)

    def on_train_start(self, state: Any) -> None:
        self.acc.start(state.model)

    @torch.no_grad()
    def on_after_backward(self, state: Any) -> None:
        for bn in self.bns:
            if bn.weight.grad is not None:
                bn.weight.grad.add_(torch.sign(bn.weight), alpha=self.s)

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.acc.record(state.model, record, self.s)


@register_method
class Slimming(Method):
    name = "slimming"
    description = "L1 on BatchNorm scales during the stage, then one global |gamma| threshold (Liu et al. 2017)"
    Args = SlimmingArgs
    example = {"epochs": 2, "s": 1e-3}
    example_prune = {"ratio": 0.5, "criterion": "bn-scale"}
    strength = "s: constant L1 strength on every BN scale"

    def check_prune(self, args: Any, prune: Any) -> None:
        if prune.granularity != "filter" or prune.form().kind != "uniform":
            raise ConfigError("method 'slimming' needs a filter prune with one float ratio (the global percent)")
        if prune.criterion != "bn-scale":  # its score is |gamma|: another criterion would be ignored
            raise ConfigError(f"method 'slimming' scores by |gamma|: give criterion 'bn-scale', not {prune.criterion!r}")

    def hooks(self, args: Any, model: nn.Module, ctx: StageContext) -> Hooks:
        return SlimmingHooks(model, args.s, ctx.input_shape)

    def finish(self, args: Any, model: nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        from ..api import prune

        names = list(targets(model, ctx.prune, ctx.input_shape))
        bns = following_bn(model, names, ctx.input_shape)
        missing = [n for n in names if n not in bns]
        if missing:
            raise PruneError(f"method 'slimming': layer {missing[0]} has no BatchNorm after it")
        chosen = global_threshold({n: bns[n].weight for n in names}, ctx.prune.form().uniform)
        return prune(model, ctx.prune, seed=ctx.seed, input_shape=ctx.input_shape, chosen=chosen)

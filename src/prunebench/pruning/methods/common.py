"""Pieces the methods share: which layers a prune spec targets and how many of each it removes,
filter and weight scores, zeroing, and what a stage epoch is counted at (sparsity, MACs)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...metrics import complexity as cx
from .. import ratios as _ratios
from ..criteria import criterion_from_spec
from ..layers import discover, family_of, probe_shape
from ..scoring import lowest, score_layers
from ..structured import group_templates


def targets(model: nn.Module, spec: Any, shape: tuple[int, ...], ratio: float | None = None) -> dict[str, tuple[int, int]]:
    """Per pruned layer: (size, number removed) -- filters, or weights for weight granularity --
    exactly as ``prune`` counts them; ``ratio`` replaces a uniform spec's ratio (a schedule's s_t)."""
    if ratio is not None:
        spec = spec.model_copy(update={"ratio": float(ratio)})
    layers = discover(model, cx.count(model, shape), spec.granularity, probe_shape(model, shape))
    layer_ratios = _ratios.resolve(spec, layers, family_of(model))
    out = {}
    for l in layers:
        size = l.width if spec.granularity == "filter" else model.get_submodule(l.name).weight.numel()
        out[l.name] = (size, _ratios.n_removed(layer_ratios[l.name], size))
    return {k: v for k, v in out.items() if layer_ratios[k] > 0}


def filter_scores(model: nn.Module, spec: Any, names: list[str], shape: tuple[int, ...], seed: int = 0,
                  data: Any = None) -> dict[str, torch.Tensor]:
    """The spec's criterion's filter scores of the named layers (lower = removed first)."""
    criterion = criterion_from_spec(spec)
    templates = group_templates(model, names, probe_shape(model, shape)) if "bn" in criterion.needs else None
    return score_layers(model, names, criterion, granularity="filter", seed=seed, data=data, templates=templates)


def lowest_filters(scores: dict[str, torch.Tensor], counts: dict[str, int]) -> dict[str, list[int]]:
    return {name: lowest(scores[name], k) for name, k in counts.items() if k > 0}


def following_bn(model: nn.Module, names: list[str], shape: tuple[int, ...]) -> dict[str, nn.Module]:
    """The BatchNorm that normalises each named layer's outputs, where there is one."""
    templates = group_templates(model, names, probe_shape(model, shape))
    out = {}
    for name in names:
        for it in templates[name]:
            if it.op == "bn":
                out[name] = model.get_submodule(it.module)
                break
    return out


def row_mask(weight: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """A (out, 1, 1, ...) float mask, 1 on the given output rows, broadcastable over ``weight``."""
    m = torch.zeros(weight.shape[0], device=weight.device, dtype=weight.dtype)
    if rows:
        m[torch.as_tensor(rows, device=weight.device)] = 1
    return m.view(-1, *([1] * (weight.dim() - 1)))


@torch.no_grad()
def zero_rows_(module: nn.Module, rows: list[int]) -> None:
    if rows:
        idx = torch.as_tensor(rows, device=module.weight.device)
        module.weight[idx] = 0


def prunable_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


@torch.no_grad()
def zero_fraction(model: nn.Module) -> float:
    """Exactly-zero parameters / all parameters: the sparsity a stage has reached."""
    total = zeros = 0
    for p in model.parameters():
        total += p.numel()
        zeros += int((p == 0).sum())
    return zeros / total if total else 0.0


@torch.no_grad()
def effective_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """MACs of the model's nonzero weights (a masked or zeroed layer counts only what is left)."""
    was = model.training
    _, _, macs = cx.pruned_counts(model, shape, prunable_names(model))
    model.train(was)
    return int(macs)


class EpochAccounting:
    """Records, for every stage epoch, the MACs it ran at (measured before the epoch), the sparsity
    after it and the method's strength."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.macs_now: int | None = None

    def start(self, model: nn.Module) -> None:
        self.macs_now = effective_macs(model, self.shape)

    def record(self, model: nn.Module, record: dict[str, Any], reg: float | None) -> None:
        record["macs"] = self.macs_now if self.macs_now is not None else effective_macs(model, self.shape)
        record["reg"] = reg
        record["sparsity"] = zero_fraction(model)

    def after_update(self, model: nn.Module) -> None:
        """The masks changed: the next epoch runs at new MACs."""
        self.macs_now = effective_macs(model, self.shape)

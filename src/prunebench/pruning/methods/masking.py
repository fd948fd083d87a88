"""Masks a stage holds while it trains (AGP, IMP): removed filters (rows) or removed weights per
layer, recomputed to a target ratio, kept at exactly zero after every step, carried as JSON."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import ratios as _ratios
from ..masks import MaskSet
from .common import filter_scores, targets


def check_weight_criterion(method: str, prune: Any) -> None:
    """Weight masks rank by |w|: a weight prune must say so (another criterion would be ignored)."""
    from ...errors import ConfigError

    if prune.granularity == "weight" and prune.criterion != "magnitude":
        raise ConfigError(f"method {method!r} masks weights by |w|: give criterion 'magnitude', not {prune.criterion!r}")


class StageMasks:
    """Removed indices per layer: filter indices (granularity filter) or flat weight indices."""

    def __init__(self, spec: Any, shape: tuple[int, ...]) -> None:
        self.spec, self.shape = spec, shape
        self.removed: dict[str, list[int]] = {}

    # -- schedule -----------------------------------------------------------------------------
    def update(self, model: nn.Module, ratio: float, seed: int = 0, data: Any = None) -> None:
        """Remove, in every targeted layer, the lowest-scoring entries up to ``ratio`` (what is
        already removed stays removed: it scores below everything)."""
        plan = targets(model, self.spec, self.shape, ratio=ratio)
        if self.spec.granularity == "filter":
            scores = filter_scores(model, self.spec, list(plan), self.shape, seed, data)
        else:
            scores = {n: model.get_submodule(n).weight.detach().abs().flatten().double().cpu() for n in plan}
        for name, s in scores.items():
            s = s.clone()
            if self.removed.get(name):
                s[torch.as_tensor(self.removed[name])] = -float("inf")
            scores[name] = s
        if self.spec.granularity == "weight" and self.spec.scope == "global":
            total = sum(size for size, _ in plan.values())
            k = _ratios.n_removed(float(ratio), total)
            flat = torch.cat([scores[n] for n in plan])
            order = torch.sort(flat, stable=True).indices[:k]
            gone = torch.zeros(len(flat), dtype=torch.bool)
            gone[order] = True
            start = 0
            for name, (size, _) in plan.items():
                self.removed[name] = torch.nonzero(gone[start:start + size]).flatten().tolist()
                start += size
            return
        for name, (size, k) in plan.items():
            order = torch.sort(scores[name], stable=True).indices[:k]
            self.removed[name] = sorted(int(i) for i in order)

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> None:
        for name, idx in self.removed.items():
            if not idx:
                continue
            w = model.get_submodule(name).weight
            t = torch.as_tensor(idx, device=w.device)
            if self.spec.granularity == "filter":
                w[t] = 0
            else:
                w.view(-1)[t] = 0

    # -- counts and results ------------------------------------------------------------------
    def fraction(self, model: nn.Module) -> float:
        """Removed / total over the targeted layers (filters or weights)."""
        sizes = {n: (model.get_submodule(n).weight.shape[0] if self.spec.granularity == "filter"
                     else model.get_submodule(n).weight.numel()) for n in self.removed}
        total = sum(sizes.values())
        return sum(len(v) for v in self.removed.values()) / total if total else 0.0

    def chosen(self, model: nn.Module) -> dict[str, list[int]] | MaskSet:
        if self.spec.granularity == "filter":
            return {n: list(v) for n, v in self.removed.items() if v}
        masks = {}
        for name, idx in self.removed.items():
            w = model.get_submodule(name).weight
            keep = torch.ones(w.numel(), dtype=torch.bool)
            if idx:
                keep[torch.as_tensor(idx)] = False
            masks[name] = keep.view(w.shape)
        return MaskSet(masks)

    def to_json(self) -> dict[str, list[int]]:
        return {n: list(v) for n, v in self.removed.items()}

    def load_json(self, data: dict[str, list[int]]) -> None:
        self.removed = {n: [int(i) for i in v] for n, v in data.items()}

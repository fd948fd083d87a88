"""Feed criteria: build each layer's ScoreInput (weights, per-layer seed, gradients, following BN)
and turn scores into removal choices."""
from __future__ import annotations

import copy
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PruneError
from .criteria import Criterion, ScoreInput, layer_seed
from .structured import Item


def batches(data: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``data`` as a list of (inputs, targets) batches: one pair, or an iterable of pairs."""
    if data is None:
        return []
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return [(data[0], data[1])]
    out = []
    for item in data:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise PruneError("data must be an (inputs, targets) pair of tensors or a list of such pairs")
        out.append((item[0], item[1]))
    return out


def taylor_grads(model: nn.Module, names: Iterable[str], data: Any, who: str = "taylor") -> dict[str, list[torch.Tensor]]:
    """dL/dw of each named layer for each batch on its own (cross-entropy, mean over the batch), on a
    scratch copy in train mode (so the caller's weights, BN statistics and grads stay as they were)."""
    pairs = batches(data)
    if not pairs:
        raise PruneError(f"criterion {who!r} needs data: a few training batches as (inputs, targets) tensors")
    scratch = copy.deepcopy(model).train()
    for p in scratch.parameters():
        p.requires_grad_(True)
    device = next(scratch.parameters()).device
    names = list(names)
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for x, y in pairs:
        for p in scratch.parameters():
            p.grad = None
        F.cross_entropy(scratch(x.to(device)), y.to(device)).backward()
        for n in names:
            out[n].append(scratch.get_submodule(n).weight.grad.detach().clone())
    return out


def _following_bn(model: nn.Module, items: tuple[Item, ...]) -> nn.Module | None:
    for it in items:
        if it.op == "bn":
            return model.get_submodule(it.module)
    return None


def score_layers(
    model: nn.Module, names: list[str], criterion: Criterion, *, granularity: str, seed: int,
    data: Any = None, templates: dict[str, tuple[Item, ...]] | None = None,
) -> dict[str, torch.Tensor]:
    """One finite score per filter (or weight) of each named layer, fed what the criterion declared
    in ``needs``; anything else it returns is a PruneError naming the criterion and the layer."""
    needs = set(criterion.needs)
    grads = taylor_grads(model, names, data, criterion.name) if "grad" in needs else {}
    pairs = batches(data) if "data" in needs else None
    if "data" in needs and not pairs:
        raise PruneError(f"criterion {criterion.name!r} needs data: a few training batches as (inputs, targets) tensors")
    scratch = copy.deepcopy(model) if "data" in needs else None
    scores = {}
    for name in names:
        inp = ScoreInput(
            name=name,
            weight=model.get_submodule(name).weight.detach(),
            seed=layer_seed(seed, name),
            grad=torch.stack(grads[name]).sum(0) if name in grads else None,
            batch_grads=tuple(grads.get(name, ())),
            bn=_following_bn(model, templates[name]) if "bn" in needs and templates else None,
            granularity=granularity,
            module=scratch.get_submodule(name) if scratch is not None else None,
            model=scratch,
            batches=pairs,
        )
        s = torch.as_tensor(criterion.score(inp)).detach().to("cpu", torch.float64)
        want = inp.weight.shape if granularity == "weight" else inp.weight.shape[:1]
        if s.shape != want:
            raise PruneError(f"criterion {criterion.name!r} gave scores of shape {tuple(s.shape)} for {name}, want {tuple(want)}")
        if not torch.isfinite(s).all():
            raise PruneError(f"criterion {criterion.name!r} gave non-finite scores for layer {name}")
        scores[name] = s
    return scores


def lowest(scores: torch.Tensor, k: int) -> list[int]:
    """Indices of the k lowest scores, ascending (ties: the lower index is removed first)."""
    order = torch.sort(scores, stable=True).indices[:k]
    return sorted(int(i) for i in order)

"""Pruning plans: plain JSON data (per layer kept filter indices, or a reference to masks), tied to
the dense weights they were computed on by a hash, and replayable on a freshly built dense model.

```
{"format": "prunebench-plan", "version": 1, "granularity": "filter" | "weight",
 "model": {"name", "args", "family"}, "input_shape": [...], "dense_sha256": "<16 hex>",
 "spec": {PruneSpec, full}, "criterion": {"name", "args", "score"}, "seed": 0,
 "layers": [{"name", "index", "ratio", "width", "removed", "kept": [...]}  (filter)
            {"name", "index", "ratio", "size", "removed"}                  (weight)],
 "widths": [[name, dense width, pruned width], ...]    (forward order, every Conv/Linear layer)
 "masks": {"file": "masks.safetensors", "sha256": "<16 hex>"}                 (weight only)
 "reinit": {"name": "keep" | "fresh" | "orthp", "seed": 0}   (written by `prunebench prune`; replayed)}
```
"""
from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from ..errors import PruneError

FORMAT, VERSION = "prunebench-plan", 1
MASKS_FILE = "masks.safetensors"


def dense_hash(model: nn.Module, length: int = 16) -> str:
    """sha256 (shortened) of the state dict: names in sorted order, each with dtype, shape and the
    raw bytes of the tensor."""
    h = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:length]


def check_plan(plan: Any, where: str = "plan") -> dict[str, Any]:
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise PruneError(f"{where}: not a prunebench plan (no \"format\": \"{FORMAT}\")")
    if plan.get("version") != VERSION:
        raise PruneError(f"{where}: plan version {plan.get('version')!r} is not supported (want {VERSION})")
    for key in ("granularity", "layers", "dense_sha256", "input_shape", "spec"):
        if key not in plan:
            raise PruneError(f"{where}: plan has no {key!r}")
    if plan["granularity"] not in ("filter", "weight"):
        raise PruneError(f"{where}: unknown granularity {plan['granularity']!r}")
    if not isinstance(plan["layers"], list) or not all(isinstance(layer, dict) for layer in plan["layers"]):
        raise PruneError(f"{where}: 'layers' must be a list of layer entries")
    for i, layer in enumerate(plan["layers"]):
        if not isinstance(layer.get("name"), str):
            raise PruneError(f"{where}: layer entry {i} has no name")
        if plan["granularity"] == "filter" and not (
            isinstance(layer.get("width"), int) and isinstance(layer.get("kept"), list)
            and all(isinstance(k, int) and not isinstance(k, bool) for k in layer["kept"])
        ):
            raise PruneError(f"{where}: layer {layer['name']!r} needs an integer 'width' and a list of integer 'kept' indices")
    return plan


def check_hash(plan: dict[str, Any], dense: nn.Module) -> None:
    """The plan was computed on exactly these dense weights."""
    have = dense_hash(dense)
    if have != plan["dense_sha256"]:
        raise PruneError(f"plan was computed on dense weights {plan['dense_sha256']}, this model has {have}")


def check_fits(plan: dict[str, Any], model: nn.Module, where: str = "plan") -> None:
    """The plan's layers exist in ``model`` and its input shape is the model's."""
    names = dict(model.named_modules())
    for layer in plan["layers"]:
        if layer["name"] not in names:
            raise PruneError(f"{where}: layer {layer['name']!r} is not a layer of {getattr(model, 'zoo_name', 'the model')}")
    want = getattr(model, "zoo_args", {}).get("input_shape")
    if want is not None and list(plan["input_shape"]) != list(want):
        raise PruneError(f"{where}: computed for input shape {plan['input_shape']}, the model takes {list(want)}")


def removed_filters(plan: dict[str, Any]) -> dict[str, list[int]]:
    """Per layer, the filter indices a filter plan removes (the complement of its kept list)."""
    out = {}
    for layer in plan["layers"]:
        kept = set(layer["kept"])
        if not kept or min(kept) < 0 or max(kept) >= layer["width"]:
            raise PruneError(f"plan: kept indices of {layer['name']} do not fit its width {layer['width']}")
        out[layer["name"]] = [i for i in range(layer["width"]) if i not in kept]
    return out

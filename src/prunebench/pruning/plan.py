"""Pruning plans: plain JSON data (per layer kept filter indices, or a reference to masks), tied to
the dense weights they were computed on by a hash, and replayable on a freshly built dense model.

```
{"format": "prunebench-plan", "version": 1, "granularity": "filter" | "weight",
 "model": {"name", "args", "family"}, "input_shape": [...], "dense_sha256": "<16 hex>",
 "spec": {PruneSpec, full}, "criterion": {"name", "args", "score"}, "seed": 0,
 "layers": [{"name", "index", "ratio", "width", "removed", "kept": [...]}  (filter)
            {"name", "index", "ratio", "size", "removed"}                  (weight)],
            (+ "entry": "selector:ratio" where ratio entries overlap: the one the layer took)
 "widths": [[name, dense width, pruned width], ...]    (forward order, every Conv/Linear layer)
 "masks": {"file": "masks.safetensors", "sha256": "<16 hex>"}                 (weight only)
 "reinit": {"name": "keep" | "fresh" | "orthp", "seed": 0}   (written by `prunebench prune`; replayed)}
```
"""
from __future__ import annotations

import hashlib
from pathlib import Path
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
    spec = plan["spec"]
    if not isinstance(spec, dict):
        raise PruneError(f"{where}: 'spec' must be the prune spec (a mapping)")
    if spec.get("granularity", "filter") != plan["granularity"]:  # the recorded spec is written out in full
        raise PruneError(f"{where}: granularity {plan['granularity']!r} differs from its spec's "
                         f"{spec.get('granularity', 'filter')!r} (was the plan edited?)")
    if not (isinstance(plan["input_shape"], list) and plan["input_shape"] and all(_is_int(d) and d > 0 for d in plan["input_shape"])):
        raise PruneError(f"{where}: 'input_shape' must be a list of positive integers, got {plan['input_shape']!r}")
    seen: set[str] = set()
    for i, layer in enumerate(plan["layers"]):
        if not isinstance(layer.get("name"), str) or not layer["name"]:
            raise PruneError(f"{where}: layer entry {i} has no name")
        if layer["name"] in seen:
            raise PruneError(f"{where}: layer {layer['name']!r} has two entries")
        seen.add(layer["name"])
        if plan["granularity"] == "filter" and not (
            _is_int(layer.get("width")) and isinstance(layer.get("kept"), list)
            and all(_is_int(k) for k in layer["kept"])
        ):
            raise PruneError(f"{where}: layer {layer['name']!r} needs an integer 'width' and a list of integer 'kept' indices")
        if plan["granularity"] == "weight" and not _is_int(layer.get("size")):
            raise PruneError(f"{where}: layer {layer['name']!r} needs an integer 'size' (its weight count)")
    if plan["granularity"] == "weight":
        masks = plan.get("masks")
        if not (isinstance(masks, dict) and isinstance(masks.get("file"), str) and isinstance(masks.get("sha256"), str)):
            raise PruneError(f"{where}: a weight plan needs 'masks': {{\"file\", \"sha256\"}} (the masks it was written with)")
    widths = plan.get("widths", [])
    if not (isinstance(widths, list) and all(isinstance(w, list) and len(w) == 3 and isinstance(w[0], str)
                                             and _is_int(w[1]) and _is_int(w[2]) for w in widths)):
        raise PruneError(f"{where}: 'widths' must be a list of [layer name, dense width, pruned width]")
    return plan


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def masks_file(plan: dict[str, Any], model_dir: str | Path, where: str = "plan") -> Path:
    """The masks file of a weight plan: a file inside ``model_dir`` (the plan's directory), never a
    path that leads out of it (absolute, ``..``, a symlink elsewhere)."""
    name = (plan.get("masks") or {}).get("file", MASKS_FILE)
    root = Path(model_dir).resolve()
    path = (root / name).resolve()
    if Path(name).is_absolute() or root not in path.parents:
        raise PruneError(f"{where}: masks file {name!r} lies outside its model directory {model_dir}")
    return path


def check_hash(plan: dict[str, Any], dense: nn.Module) -> None:
    """The plan was computed on exactly these dense weights."""
    have = dense_hash(dense)
    if have != plan["dense_sha256"]:
        raise PruneError(f"plan was computed on dense weights {plan['dense_sha256']}, this model has {have}")


def _out_width(module: nn.Module) -> int:
    return int(module.out_channels if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) else module.out_features)


def check_fits(plan: dict[str, Any], model: nn.Module, where: str = "plan") -> None:
    """The plan's layers are Conv/Linear layers of the dense ``model`` with the widths (filter plans)
    or weight counts (weight plans) the plan records, its ``widths`` table names real layers at
    their dense widths, and its input shape is the model's."""
    from ..metrics.complexity import COUNTED

    names = dict(model.named_modules())
    label = getattr(model, "zoo_name", None) or "the model"
    for layer in plan["layers"]:
        module = names.get(layer["name"])
        if module is None or not layer["name"]:
            raise PruneError(f"{where}: layer {layer['name']!r} is not a layer of {label}")
        if not isinstance(module, COUNTED):
            raise PruneError(f"{where}: layer {layer['name']!r} is a {type(module).__name__}, not a Conv/Linear layer "
                             "(plans prune Conv/Linear layers only)")
        if plan["granularity"] == "filter" and layer["width"] != _out_width(module):
            raise PruneError(f"{where}: layer {layer['name']!r} records width {layer['width']}, the layer has "
                             f"{_out_width(module)} filters")
        if plan["granularity"] == "weight" and layer["size"] != module.weight.numel():
            raise PruneError(f"{where}: layer {layer['name']!r} records {layer['size']} weights, the layer has "
                             f"{module.weight.numel()}")
    for name, dense_width, _ in plan.get("widths", []):
        module = names.get(name)
        if module is None or not isinstance(module, COUNTED):
            raise PruneError(f"{where}: 'widths' names {name!r}, which is not a Conv/Linear layer of {label}")
        if dense_width != _out_width(module):
            raise PruneError(f"{where}: 'widths' records {name} at dense width {dense_width}, the layer has {_out_width(module)}")
    want = getattr(model, "zoo_args", {}).get("input_shape")
    if want is not None and list(plan["input_shape"]) != list(want):
        raise PruneError(f"{where}: computed for input shape {plan['input_shape']}, the model takes {list(want)}")


def check_pruned_widths(plan: dict[str, Any], pruned: nn.Module, where: str = "plan") -> None:
    """The pruned model has the pruned widths the plan's ``widths`` table records."""
    for name, _, width in plan.get("widths", []):
        have = _out_width(pruned.get_submodule(name))
        if have != width:
            raise PruneError(f"{where}: 'widths' records {name} pruned to {width}, the plan's kept indices give {have}")


def removed_filters(plan: dict[str, Any]) -> dict[str, list[int]]:
    """Per layer, the filter indices a filter plan removes (the complement of its kept list)."""
    out = {}
    for layer in plan["layers"]:
        kept = set(layer["kept"])
        if not kept or min(kept) < 0 or max(kept) >= layer["width"]:
            raise PruneError(f"plan: kept indices of {layer['name']} do not fit its width {layer['width']}")
        out[layer["name"]] = [i for i in range(layer["width"]) if i not in kept]
    return out

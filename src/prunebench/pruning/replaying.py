"""Re-applying a stored plan: ``replay`` (a plan on the dense model it was computed on, with the
plan's recorded re-initialisation) and ``restructure`` (the pruned architecture of a model
directory, whose own weights are loaded afterwards)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from torch import nn

from ..artifacts import read_tensors
from ..errors import PruneError
from .api import apply_filter_plan, compute_masks
from .masks import MaskSet, masks_of
from .plan import check_fits, check_hash, check_plan, check_pruned_widths, masks_file
from .reinit import apply_reinit


def reinit_pruned(model: nn.Module, name: str, seed: int) -> nn.Module:
    """Re-initialise a pruned model in place; masked weights stay zero (a re-init must not revive
    pruned weights)."""
    if name != "keep":
        apply_reinit(name, model, seed=seed)
        masks = masks_of(model)
        if masks is not None:
            masks.apply_(model)
    return model


def replay(plan: dict[str, Any], dense: nn.Module, *, masks: Any = None, check: bool = True,
           reinit: bool = True) -> nn.Module:
    """Apply a stored plan to the dense model it was computed on: a new pruned module whose weights
    are bit-identical to the original prune's (and, with ``reinit``, to its recorded re-init, as
    ``prunebench replay`` does). The dense model is left untouched.

    For a weight plan, ``masks`` (a MaskSet or its tensors) may be given; otherwise they are
    recomputed from the recorded spec, criterion and seed and must match the recorded masks hash."""
    check_plan(plan)
    check_fits(plan, dense)
    check_hash(plan, dense)
    if plan["granularity"] == "filter":
        pruned = apply_filter_plan(dense, plan, check=check)
    else:
        if masks is None:
            masks = compute_masks(dense, plan)
        elif not isinstance(masks, MaskSet):
            masks = MaskSet.from_tensors(masks)
        if masks is None:  # the recorded spec does not make masks
            raise PruneError("plan: its spec recomputes no masks (was the plan edited?)")
        masks.check_fits(dense, "plan masks")
        want = plan.get("masks", {}).get("sha256")
        if want is not None and masks.sha256() != want:
            raise PruneError(f"plan: masks hash {masks.sha256()} differs from the recorded {want}")
        _check_mask_layers(plan, masks, "plan")
        pruned = masks.attach(masks.apply_(copy.deepcopy(dense)))
    check_pruned_widths(plan, pruned)
    recorded = plan.get("reinit")
    if reinit and isinstance(recorded, dict):
        reinit_pruned(pruned, str(recorded.get("name", "keep")), int(recorded.get("seed", 0)))
    return pruned


def restructure(dense: nn.Module, plan: dict[str, Any], model_dir: str | Path) -> nn.Module:
    """The pruned architecture for a model directory (called by ``loading.load_model``): filters
    removed at the plan's indices, or the directory's masks attached (they must match the plan's
    masks hash). No dense-weights hash check: the directory's own weights are loaded into the result
    afterwards."""
    where = f"{model_dir}/plan.json"
    check_plan(plan, where)
    check_fits(plan, dense, where)
    if plan["granularity"] == "filter":
        pruned = apply_filter_plan(dense, plan, check=False)
    else:
        path = masks_file(plan, model_dir, where)
        masks = MaskSet.from_tensors(read_tensors(path))
        masks.check_fits(dense, str(path))
        if masks.sha256() != plan["masks"]["sha256"]:
            raise PruneError(f"{path}: masks hash {masks.sha256()} differs from the plan's {plan['masks']['sha256']}")
        _check_mask_layers(plan, masks, where)
        pruned = masks.attach(copy.deepcopy(dense))
    check_pruned_widths(plan, pruned, where)
    return pruned


def _check_mask_layers(plan: dict[str, Any], masks: MaskSet, where: str) -> None:
    """The masks cover exactly the plan's layers, each with the number of removed weights it records."""
    counts = masks.counts()
    names = {layer["name"] for layer in plan["layers"]}
    if set(counts) != names:
        odd = sorted(set(counts) ^ names)[0]
        raise PruneError(f"{where}: the masks and the plan's layers differ (at {odd!r})")
    for layer in plan["layers"]:
        kept, total = counts[layer["name"]]
        if isinstance(layer.get("removed"), int) and total - kept != layer["removed"]:
            raise PruneError(f"{where}: layer {layer['name']!r} records {layer['removed']} removed weights, its mask removes {total - kept}")

"""``prune(model, spec)``: criterion -> ratio allocation -> plan -> apply -> checks -> report.

Any ``nn.Module`` can be pruned: a model the registry built follows its family's layer convention;
any other module gets the generic one (pruning/layers.py: the dependency graph says what is coupled,
the last Conv/Linear layer is the protected output layer), and needs ``input_shape``.

The dense model is never modified; the result holds a new module. Checks (on by default, cheap):
the physically pruned model computes what the dense model with the same filters zeroed computes
(eval mode, one random batch), something was removed, and params/MACs are recounted from the
resulting model.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import PruneError
from ..metrics import complexity as cx
from . import ratios as _ratios
from . import sanity as _sanity
from .criteria import criterion_from_spec
from .layers import Layer, class_path, discover, family_of, input_shape_of, model_label, probe_shape
from .masks import MaskSet, global_masks, layer_masks
from .plan import FORMAT, MASKS_FILE, VERSION, dense_hash, removed_filters
from ..registry import PRESETS
from .scoring import lowest, score_layers
from .spec import PruneSpec, parse_prune_arg
from .structured import check_disjoint, check_equivalent, group_templates, masked_state, remove_filters


@dataclass
class PruneResult:
    model: nn.Module  # the pruned model (a new module)
    plan: dict[str, Any]  # plain JSON data; see pruning.plan
    report: dict[str, Any]  # params, macs, dense_params, dense_macs, sparsity, speedup, widths, ...
    masks: MaskSet | None = field(default=None)  # weight granularity only (also attached to model)


def as_spec(spec: Any) -> PruneSpec:
    """A PruneSpec from a PruneSpec, a preset name / ratio string, a float, a list or a dict."""
    if isinstance(spec, PruneSpec):
        return spec
    if isinstance(spec, str):
        return parse_prune_arg(spec)
    if isinstance(spec, dict):
        from ..config import validate

        return validate(PruneSpec, spec, "prune spec")
    return PruneSpec(ratio=spec)


_DENSE_COUNTS: dict[tuple, cx.Complexity] = {}


def _count_dense(model: nn.Module, shape: tuple[int, ...]) -> cx.Complexity:
    """Dense counts depend only on the architecture and input shape: cached (warm prunes are cheap)."""
    from .structured import architecture_key

    key = architecture_key(model, shape)
    if key not in _DENSE_COUNTS:
        _DENSE_COUNTS[key] = cx.count(model, shape)
    return _DENSE_COUNTS[key]


def _check_preset(spec: PruneSpec, model: nn.Module) -> None:
    if spec.preset is not None and spec.preset in PRESETS:
        models = PRESETS.get(spec.preset).models
        if getattr(model, "zoo_name", None) not in models:
            raise PruneError(f"preset {spec.preset!r} is written for {', '.join(models)}, not {model_label(model)}")


def _plan_head(model: nn.Module, spec: PruneSpec, crit_cfg: dict, seed: int, shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "format": FORMAT, "version": VERSION, "granularity": spec.granularity,
        "model": {"name": getattr(model, "zoo_name", None), "args": dict(getattr(model, "zoo_args", {})),
                  "family": family_of(model), "class": class_path(model)},
        "input_shape": list(shape), "dense_sha256": dense_hash(model), "spec": spec.full_json(),
        "criterion": crit_cfg, "seed": int(seed),
    }


def prune(
    model: nn.Module, spec: Any, *, data: Any = None, seed: int = 0, check: bool = True,
    input_shape: tuple[int, ...] | None = None, chosen: dict[str, list[int]] | MaskSet | None = None,
) -> PruneResult:
    """Prune ``model`` (any ``nn.Module``) by ``spec`` (PruneSpec, preset name, ratio string, float, ...).

    ``data``: (inputs, targets) batches for data-driven criteria (taylor). ``seed``: for random
    criteria. ``input_shape``: one example's shape, for tracing and counting MACs (default: the
    shape a registered model was built for; required for any other module).

    Returns a :class:`PruneResult`: ``.model`` (the pruned model, a new module; ``model`` is left
    untouched), ``.plan`` (the replayable plan), ``.report`` (params, MACs, sparsity, speedup,
    widths) and ``.masks`` (the MaskSet of a weight-granularity prune, else None).

    ``chosen``: what a method with a pruning stage decided to remove, used instead of the criterion's
    lowest scores: per layer name the removed filter indices (filter granularity), or the MaskSet
    (weight granularity). The plan records it like any other choice."""
    spec = as_spec(spec)
    _check_preset(spec, model)
    shape = tuple(input_shape) if input_shape is not None else input_shape_of(model)
    dense_comp = _count_dense(model, shape)
    layers = discover(model, dense_comp, spec.granularity, probe_shape(model, shape))
    layer_ratios = _ratios.resolve(spec, layers, family_of(model))
    criterion = criterion_from_spec(spec)
    plan = _plan_head(model, spec, criterion.config(), seed, shape)
    if chosen is not None:
        return _prune_chosen(model, spec, chosen, layers, layer_ratios, criterion, seed, shape, dense_comp, check)
    targets = [l for l in layers if _ratios.n_removed(layer_ratios[l.name], _size(model, l, spec.granularity)) > 0]
    if not targets:
        raise PruneError(f"pruning spec {spec.ratio!r} removes nothing from {model_label(model)} (every ratio rounds to 0 filters)")
    if spec.granularity == "filter":
        pshape = probe_shape(model, shape)
        templates = group_templates(model, [l.name for l in targets], pshape)
        scores = score_layers(model, [l.name for l in targets], criterion, granularity="filter", seed=seed,
                              data=data, templates=templates)
        if spec.sanity is not None:  # the counts come from the ratios: random or inverted choice of filters
            scores = _sanity.random_scores(scores, seed) if spec.sanity == "same-ratios-random" else _sanity.inverted_scores(scores)
        plan["layers"] = [_filter_entry(l, layer_ratios[l.name], scores[l.name]) for l in targets]
        _record_entries(plan, spec, layers)
        pruned = apply_filter_plan(model, plan, check=check, templates=templates)
        masks = None
    else:
        scores = score_layers(model, [l.name for l in targets], criterion, granularity="weight", seed=seed, data=data)
        masks = _masks_from_scores(model, spec, targets, layer_ratios, _sanity.inverted_scores(scores)
                                   if spec.sanity == "inverted" else scores)
        if spec.sanity == "same-ratios-random":  # the criterion's per-layer counts, random positions
            removed = {n: int((~m).sum()) for n, m in masks.masks.items()}
            masks = MaskSet(layer_masks(_sanity.random_scores({n: scores[n] for n in removed}, seed), removed))
        elif spec.sanity == "shuffled-mask":
            masks = MaskSet(_sanity.shuffled_masks(masks.masks, seed))
        counts = masks.counts()
        plan["layers"] = [_weight_entry(model, l, layer_ratios[l.name], counts) for l in targets]
        _record_entries(plan, spec, layers)
        pruned = _apply_masks(model, plan, masks, check)
    report = make_report(pruned, shape, dense_comp, masks)
    plan["widths"] = [[name, *w] for name, w in report["widths"].items()]
    if check and report["params"] >= report["dense_params"] and masks is None:
        raise PruneError("check failed: the pruned model has as many parameters as the dense one")
    return PruneResult(pruned, plan, report, masks)


def _apply_masks(model: nn.Module, plan: dict[str, Any], masks: MaskSet, check: bool) -> nn.Module:
    """The masked copy of ``model`` (masks attached, so they hold through training), recorded in the
    plan by the masks file's hash; checked when asked."""
    plan["masks"] = {"file": MASKS_FILE, "sha256": masks.sha256()}
    pruned = masks.attach(masks.apply_(copy.deepcopy(model)))
    if check:
        _check_masked(pruned, masks)
    return pruned


def _record_entries(plan: dict[str, Any], spec: PruneSpec, layers: list[Layer]) -> None:
    """Where ratio entries overlap, each layer of the plan says which entry gave it its ratio
    (``"entry": "selector:ratio"``, the last one that matches it)."""
    form = spec.form()
    if form.kind != "entries":
        return
    matched: dict[str, int] = {}
    for e in form.entries:
        for layer in _ratios.entry_layers(layers, e):
            matched[layer.name] = matched.get(layer.name, 0) + 1
    if max(matched.values(), default=0) < 2:
        return  # no overlap: the spec alone says which entry each layer took
    won = _ratios.winning_entries(layers, form.entries)
    for entry in plan["layers"]:
        e = form.entries[won[entry["name"]]]
        entry["entry"] = f"{e.key()}:{e.ratio:g}"

def _prune_chosen(model, spec, chosen, layers, layer_ratios, criterion, seed, shape, dense_comp, check) -> PruneResult:
    """``prune`` with the removal given (see ``chosen``); the same plan, application and checks."""
    plan = _plan_head(model, spec, criterion.config(), seed, shape)
    by_name = {l.name: l for l in layers}
    if spec.granularity == "filter":
        if not isinstance(chosen, dict):
            raise PruneError("a filter prune takes the chosen filters as {layer: [indices]}")
        unknown = sorted(set(chosen) - set(by_name))
        if unknown:
            raise PruneError(f"chosen filters name layer {unknown[0]!r}, which is not prunable here")
        entries = []
        for name in [l.name for l in layers if chosen.get(l.name)]:
            l, gone = by_name[name], set(int(i) for i in chosen[name])
            if len(gone) >= l.width or not all(0 <= i < l.width for i in gone):
                raise PruneError(f"chosen filters of {name} must be indices in 0..{l.width - 1}, fewer than all")
            entries.append({"name": name, "index": l.index, "ratio": layer_ratios[name], "width": l.width,
                            "removed": len(gone), "kept": [i for i in range(l.width) if i not in gone]})
        if not entries:
            raise PruneError(f"the method removes nothing from {model_label(model)}")
        plan["layers"] = entries
        pruned, masks = apply_filter_plan(model, plan, check=check), None
    else:
        if not isinstance(chosen, MaskSet):
            raise PruneError("a weight prune takes the chosen weights as a MaskSet")
        masks = chosen
        counts = masks.counts()
        plan["layers"] = [_weight_entry(model, by_name[n], layer_ratios[n], counts) for n in counts if n in by_name]
        pruned = _apply_masks(model, plan, masks, check)
    report = make_report(pruned, shape, dense_comp, masks)
    plan["widths"] = [[name, *w] for name, w in report["widths"].items()]
    return PruneResult(pruned, plan, report, masks)


def _size(model: nn.Module, layer: Layer, granularity: str) -> int:
    return layer.width if granularity == "filter" else model.get_submodule(layer.name).weight.numel()


def _filter_entry(layer: Layer, ratio: float, scores: torch.Tensor) -> dict[str, Any]:
    k = _ratios.n_removed(ratio, layer.width)
    gone = set(lowest(scores, k))
    return {
        "name": layer.name, "index": layer.index, "ratio": ratio, "width": layer.width, "removed": k,
        "kept": [i for i in range(layer.width) if i not in gone],
    }


def _weight_entry(model: nn.Module, layer: Layer, ratio: float, counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    size = model.get_submodule(layer.name).weight.numel()
    kept = counts.get(layer.name, (size, size))[0]
    return {"name": layer.name, "index": layer.index, "ratio": ratio, "size": size, "removed": size - kept}


def _masks_from_scores(model, spec: PruneSpec, targets: list[Layer], layer_ratios, scores) -> MaskSet:
    if spec.scope == "global":
        total = sum(model.get_submodule(l.name).weight.numel() for l in targets)
        return MaskSet(global_masks(scores, _ratios.n_removed(spec.form().uniform, total)))
    removed = {l.name: _ratios.n_removed(layer_ratios[l.name], scores[l.name].numel()) for l in targets}
    return MaskSet(layer_masks(scores, removed))


def compute_masks(dense: nn.Module, plan: dict[str, Any]) -> MaskSet:
    """Recompute a weight plan's masks from its recorded spec and seed (deterministic)."""
    spec = PruneSpec.model_validate(plan["spec"])
    result = prune(dense, spec, seed=plan.get("seed", 0), check=False, input_shape=tuple(plan["input_shape"]))
    return result.masks


def apply_filter_plan(dense: nn.Module, plan: dict[str, Any], *, check: bool = True, templates=None) -> nn.Module:
    """Remove a filter plan's filters from a copy of ``dense``; with ``check``, verify it against the
    zero-masked dense model."""
    removed = removed_filters(plan)
    shape = probe_shape(dense, tuple(plan["input_shape"]))
    templates = templates or group_templates(dense, list(removed), shape)
    check_disjoint(templates)
    pruned = copy.deepcopy(dense)
    remove_filters(pruned, templates, removed)
    if check:
        gen = torch.Generator().manual_seed(int(plan.get("seed", 0)))
        device = next(dense.parameters()).device
        x = torch.randn((1, *shape), generator=gen).to(device)  # eval mode: one example suffices
        check_equivalent(dense, pruned, masked_state(dense, templates, removed), x, "check failed")
    return pruned


def _check_masked(model: nn.Module, masks: MaskSet) -> None:
    for name, mask in masks.masks.items():
        w = model.get_submodule(name).weight.detach().cpu()
        if int(torch.count_nonzero(w.masked_fill(mask, 0))) > 0:
            raise PruneError(f"check failed: masked weights of {name} are not zero")


def make_report(model: nn.Module, shape: tuple[int, ...], dense: cx.Complexity, masks: MaskSet | None) -> dict[str, Any]:
    """Params/MACs recounted from ``model`` (never taken from the plan), against the dense counts.
    Under masks ``params``/``macs`` count the nonzero weights only (see ``cx.pruned_counts``)."""
    comp, params, macs = cx.pruned_counts(model, shape, masks.masks if masks is not None else ())
    pruned_by_name = comp.by_name()
    widths = {c.name: [c.out_width, pruned_by_name[c.name].out_width] for c in dense.layers}
    report: dict[str, Any] = {
        "params": params, "macs": macs, "dense_params": dense.params, "dense_macs": dense.macs,
        "widths": widths, "input_shape": list(shape),
        "sparsity": cx.sparsity(params, dense.params), "speedup": cx.speedup(dense.macs, macs),
    }
    if masks is not None:  # the same numbers under their old names, and the dense-shaped counts
        report.update(effective_params=params, effective_macs=macs, shape_params=comp.params, shape_macs=comp.macs)
    return report

"""Resolve a ratio spec against a model's layers: one ratio per Conv/Linear layer, validated."""
from __future__ import annotations

import math
from fnmatch import fnmatch

from ..errors import PruneError
from .layers import Layer
from .spec import Entry, PruneSpec, RatioForm


def n_removed(p: float, n: int) -> int:
    """ceil(p*n), computed float-safely (0.07*100 is 7.000000000000001), at most n-1 (keep >= 1)."""
    return max(0, min(n - 1, math.ceil(round(p * n, 6))))


def _describe(layer: Layer) -> str:
    return f"layer {layer.index} ({layer.name})" if layer.index is not None else f"layer {layer.name}"


def _set(ratios: dict[str, float], layer: Layer, p: float, why: str) -> None:
    if p > 0 and layer.role == "never":
        raise PruneError(f"{_describe(layer)} is not prunable (ratio {p:g} from {why})")
    ratios[layer.name] = p


def _numbered(layers: list[Layer]) -> dict[int, Layer]:
    return {l.index: l for l in layers if l.index is not None}


def _by_index(layers: list[Layer], lo: int, hi: int, what: str) -> list[Layer]:
    numbered = _numbered(layers)
    for i in (lo, hi):
        if i not in numbered:
            raise PruneError(f"{what}: layer index {i} is out of range (the model has layers 0-{len(numbered) - 1})")
    return [numbered[i] for i in range(lo, hi + 1)]


def _by_pattern(layers: list[Layer], pattern: str, what: str) -> list[Layer]:
    hit = [l for l in layers if fnmatch(l.name, pattern)]
    if not hit:
        raise PruneError(f"{what}: pattern {pattern!r} matches no Conv/Linear layer")
    return hit


def _stages(layers: list[Layer], stages: tuple[float, ...], family: str) -> dict[str, float]:
    if layers[0].stage is None:
        raise PruneError(f"per-stage ratio lists are for ResNets; model family {family!r} takes a float, index ranges or patterns")
    n_stages = max(l.stage for l in layers) + 1
    if len(stages) != n_stages:
        raise PruneError(
            f"stage ratio list has {len(stages)} entries; this model needs {n_stages} (stem, stages 1-{n_stages - 2}, classifier)"
        )
    ratios: dict[str, float] = {}
    for s, p in enumerate(stages):
        targets = [l for l in layers if l.stage == s and l.role == "default"]
        if p > 0 and not targets:
            label = "stem" if s == 0 else "classifier" if s == n_stages - 1 else f"stage {s}"
            raise PruneError(f"stage ratio {s} ({label}) is {p:g}, but that stage has no prunable layer")
        for layer in targets:
            ratios[layer.name] = p
    return ratios


def _entries(layers: list[Layer], entries: tuple[Entry, ...]) -> dict[str, float]:
    """Later entries override earlier ones layer by layer; an entry that every later entry together
    overrides on all the layers it matches would take no effect, and is refused."""
    ratios: dict[str, float] = {}
    for e in entries:
        what = f"ratio entry {e.label()}:{e.ratio:g}"
        for layer in entry_layers(layers, e, what):
            _set(ratios, layer, e.ratio, what)
    winners = winning_entries(layers, entries)
    for i, e in enumerate(entries):
        if i not in winners.values():
            later = sorted({winners[l.name] for l in entry_layers(layers, e, "")})
            by = ", ".join(f"{entries[j].key()}:{entries[j].ratio:g}" for j in later)
            raise PruneError(f"ratio entry {e.key()}:{e.ratio:g} takes no effect: later entries ({by}) override it "
                             "on every layer it matches; drop it or reorder the entries")
    return ratios


def entry_layers(layers: list[Layer], e: Entry, what: str = "ratio entry") -> list[Layer]:
    return _by_pattern(layers, e.pattern, what) if e.pattern is not None else _by_index(layers, e.lo, e.hi, what)


def winning_entries(layers: list[Layer], entries: tuple[Entry, ...]) -> dict[str, int]:
    """Per layer name, the position of the entry whose ratio it gets (the last one that matches it)."""
    won: dict[str, int] = {}
    for i, e in enumerate(entries):
        for layer in entry_layers(layers, e, f"ratio entry {e.label()}:{e.ratio:g}"):
            won[layer.name] = i
    return won


def resolve(spec: PruneSpec, layers: list[Layer], family: str) -> dict[str, float]:
    """Ratio per layer name (every layer present, 0 where not pruned); PruneError if the spec does
    not fit the model."""
    form: RatioForm = spec.form()
    if form.kind == "uniform":
        chosen = {l.name: form.uniform for l in layers if l.role == "default"}
    elif form.kind == "stages":
        chosen = _stages(layers, form.stages, family)
    else:
        chosen = _entries(layers, form.entries)
    ratios = {l.name: 0.0 for l in layers}
    ratios.update(chosen)
    for item in spec.skip:
        what = f"skip entry {item!r}"
        hit = _by_index(layers, item, item, what) if isinstance(item, int) else _by_pattern(layers, item, what)
        for layer in hit:
            ratios[layer.name] = 0.0
    return ratios

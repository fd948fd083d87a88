"""The pruning spec (what to prune, by how much, by which criterion) and its string forms.

Ratio forms (a ratio is the fraction of a layer's filters, or weights, removed; 0 <= p < 1):
- one float ``0.5``: uniform over the layers whose role is ``default`` (see pruning.layers);
- a per-stage list ``[0, 0.6, 0.3, 0.1, 0]`` (ResNets only): stem, stages 1..S, classifier;
- entries ``"0-5:0.8, 6:0"`` (index ranges over the numbered Conv/Linear layers, forward order,
  from 0) and/or ``"*layer1*.conv1:0.6"`` (fnmatch patterns on module names); later entries
  override earlier ones layer by layer (an entry overridden on every layer it matches is refused, see
  ratios._entries); brackets around the entries are optional.
The skip list holds layer indices or patterns whose ratio is forced to 0.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from ..config import Spec
from ..errors import PruneError

RatioValue = Union[float, list[float], str]
_RANGE = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


@dataclass(frozen=True)
class Entry:
    """One ``selector:ratio`` entry: an index range (lo..hi inclusive) or an fnmatch pattern."""

    ratio: float
    lo: int | None = None
    hi: int | None = None
    pattern: str | None = None

    def key(self) -> str:
        if self.pattern is not None:
            return self.pattern
        return f"{self.lo}" if self.lo == self.hi else f"{self.lo}-{self.hi}"

    def label(self) -> str:
        return repr(self.pattern) if self.pattern is not None else self.key()


@dataclass(frozen=True)
class RatioForm:
    kind: str  # "uniform" | "stages" | "entries"
    uniform: float = 0.0
    stages: tuple[float, ...] = ()
    entries: tuple[Entry, ...] = ()


def _short(p: float) -> str:
    """Exact, shortest spelling of a ratio: 0.5 -> '0.5', 0.0 -> '0'."""
    text = repr(float(p))
    return text[:-2] if text.endswith(".0") else text


def check_ratio(p: Any, where: str = "pruning ratio") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
        raise PruneError(f"{where} must be a number in [0, 1), got {p!r}")
    if not 0.0 <= p < 1.0:
        raise PruneError(f"{where} {p!r} is outside [0, 1)")
    return float(p)


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise PruneError(f"{where}: {text!r} is not a number") from None


def _entry(text: str) -> Entry:
    key, sep, value = text.rpartition(":")
    key = key.strip()
    if not sep or not key:
        raise PruneError(f"ratio entry {text!r} must look like 'INDEX:RATIO', 'LO-HI:RATIO' or 'PATTERN:RATIO'")
    p = check_ratio(_number(value.strip(), f"ratio entry {text!r}"), f"ratio of entry {text!r}")
    m = _RANGE.match(key)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise PruneError(f"ratio entry {text!r}: range {lo}-{hi} is backwards")
        return Entry(p, lo=lo, hi=hi)
    return Entry(p, pattern=key)


def parse_ratio(value: Any) -> RatioForm:
    """Parse any ratio form (float, list, or string) into a :class:`RatioForm`; PruneError if bad."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return RatioForm("uniform", uniform=check_ratio(value))
    if isinstance(value, (list, tuple)):
        if not value:
            raise PruneError("ratio list is empty")
        if all(isinstance(v, str) for v in value):
            return RatioForm("entries", entries=tuple(_entry(v) for v in value))
        return RatioForm("stages", stages=tuple(check_ratio(v, f"stage ratio {i}") for i, v in enumerate(value)))
    if not isinstance(value, str):
        raise PruneError(f"pruning ratio must be a float, a list or a string, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("[") != text.endswith("]"):
        raise PruneError(f"ratio spec {value!r} has unbalanced brackets")
    body = text[1:-1] if text.startswith("[") else text
    parts = [p.strip() for p in body.split(",")]
    if not body.strip() or any(not p for p in parts):
        raise PruneError(f"ratio spec {value!r} has an empty entry")
    if all(":" not in p for p in parts):
        if len(parts) == 1 and not text.startswith("["):
            return RatioForm("uniform", uniform=check_ratio(_number(parts[0], "pruning ratio")))
        nums = [_number(p, f"ratio spec {value!r}") for p in parts]
        return RatioForm("stages", stages=tuple(check_ratio(v, f"stage ratio {i}") for i, v in enumerate(nums)))
    if any(":" not in p for p in parts):
        raise PruneError(f"ratio spec {value!r} mixes plain numbers with 'selector:ratio' entries")
    return RatioForm("entries", entries=tuple(_entry(p) for p in parts))


def _skip_item(item: Any) -> int | str:
    if isinstance(item, bool):
        raise PruneError(f"skip entry {item!r} must be a layer index or a pattern")
    if isinstance(item, int):
        if item < 0:
            raise PruneError(f"skip entry {item} must be a layer index >= 0")
        return item
    if isinstance(item, str) and item.strip():
        s = item.strip()
        return int(s) if s.isdigit() else s
    raise PruneError(f"skip entry {item!r} must be a layer index or a pattern")


class PruneSpec(Spec):
    """What to prune. Frozen and validated; ``full_json()`` goes into every plan."""

    ratio: RatioValue = 0.5
    criterion: str = "l1"
    criterion_args: dict[str, Any] = Field(default_factory=dict)
    granularity: Literal["filter", "weight"] = "filter"
    scope: Literal["layer", "global"] = "layer"
    skip: list[Union[int, str]] = Field(default_factory=list)
    preset: str | None = None
    #: A sanity check of the criterion's choice (see pruning/sanity.py); None: the criterion's own choice.
    sanity: Literal["same-ratios-random", "shuffled-mask", "inverted"] | None = None

    @field_validator("ratio", mode="before")
    @classmethod
    def _ratio(cls, value: Any) -> Any:
        form = parse_ratio(value)
        # One canonical spelling per form, so that equal specs hash equally.
        if form.kind == "uniform":
            return form.uniform
        if form.kind == "stages":
            return list(form.stages)
        return ",".join(f"{e.key()}:{_short(e.ratio)}" for e in form.entries)

    @field_validator("skip", mode="before")
    @classmethod
    def _skip(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        return [_skip_item(v) for v in (value or [])]

    @model_validator(mode="after")
    def _coherent(self) -> "PruneSpec":
        from .criteria import CRITERIA, criterion_from_spec

        if self.criterion not in CRITERIA:
            raise PruneError(f"unknown criterion {self.criterion!r}; valid: {', '.join(CRITERIA.names())}")
        criterion_from_spec(self)  # checks the arguments and the granularity
        if self.sanity == "shuffled-mask" and self.granularity != "weight":
            raise PruneError("sanity 'shuffled-mask' shuffles an unstructured mask: it needs granularity 'weight' "
                             "(for filters, 'same-ratios-random' keeps the widths and picks random filters)")
        if self.scope == "global":
            if self.granularity != "weight":
                raise PruneError("scope 'global' is for granularity 'weight' only (filters are ranked per layer)")
            if self.form().kind != "uniform":
                raise PruneError("scope 'global' needs one float ratio")
        return self

    def form(self) -> RatioForm:
        return parse_ratio(self.ratio)


def parse_prune_arg(text: str, **fields: Any) -> PruneSpec:
    """The CLI's ``--prune``: a preset name, or a ratio in any string form. ``fields`` (criterion,
    granularity, scope, skip, ...) override the preset's or fill in the spec."""
    from ..registry import PRESETS

    name = text.strip()
    fields = {k: v for k, v in fields.items() if v is not None}
    if name in PRESETS:
        return PruneSpec(**{**PRESETS.get(name).spec.model_dump(), **fields})
    if re.match(r"^[A-Za-z][\w.-]*$", name) and ":" not in name:
        raise PruneError(f"--prune {text!r} is neither a ratio spec nor a preset; presets: {', '.join(PRESETS.names())}")
    return PruneSpec(ratio=name, **fields)

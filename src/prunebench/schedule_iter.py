"""Learning-rate schedules that step every iteration, with a warm-up (the literature's retraining
schedules; definitions in docs/architecture.md, "Per-iteration schedules").

Written forms (string ``KIND:key=value,...`` or a mapping ``{kind: KIND, key: value, ...}``); the
canonical form writes every key out, defaults included:

* ``linear:peak=P,start=S,end=E,warmup=W,shape=linear|cos`` -- warm-up from S to P, then linear
  decay from P to E (BIMP's LLR; ALLR with S = E = 0 and shape cos). Defaults: S = 0, E = 0,
  W = 0.1, shape linear.
* ``onecycle:peak=P,start=S,end=E,warmup=W`` -- cosine warm-up from S to P, then cosine decay from P
  to E (Le & Hua's CLR). Defaults: S = P/100, E = S/100, W = 0.1 (their ``OneCycleLR`` settings).
  Momentum is not cycled.
* ``slr:peak=P,start=S,warmup=W,drops=A/B,factor=F`` -- cosine warm-up from S to P, then P times F
  after each drop; drops are fractions of the iterations after the warm-up (Le & Hua's SLR).
  Defaults: S = P/100, W = 0.1, drops 0.5/0.75, F = 0.1.

With N iterations in the run, the warm-up takes ``Wn = round(W*N)`` iterations (at least 1 when
W > 0, at most N - 1). Iteration t < Wn: ``S + (P - S) r`` with r = t/Wn (linear) or
(1 - cos(pi t/Wn))/2 (cos). Then with D = N - Wn and u = (t - Wn)/(D - 1) (0 when D = 1):
linear ``P + (E - P) u``; onecycle ``E + (P - E)(1 + cos(pi u))/2``; slr ``P F^k``, k = the number of
drops f with t >= Wn + floor(f D). So iteration Wn has the peak and the last iteration the end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

KINDS = ("linear", "onecycle", "slr")
_KEYS = {
    "linear": ("peak", "start", "end", "warmup", "shape"),
    "onecycle": ("peak", "start", "end", "warmup"),
    "slr": ("peak", "start", "warmup", "drops", "factor"),
}
_LR_KEYS = ("peak", "start", "end")
SHAPES = ("linear", "cos")


def format_lr(lr: float) -> str:
    """Shortest exact-looking scientific form: 0.1 -> '1e-1', 0.05 -> '5e-2', 2.5e-3 -> '2.5e-3'."""
    if lr == 0:
        return "0"
    mantissa, exponent = f"{lr:.12e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _fraction(v: float) -> str:
    return f"{v:.12g}"


@dataclass(frozen=True)
class IterSchedule:
    """A per-iteration schedule. ``params`` holds every key of its kind (see the module docstring)."""

    kind: str
    params: tuple[tuple[str, Any], ...]
    per_iteration = True

    def get(self, key: str) -> Any:
        return dict(self.params)[key]

    @property
    def initial_lr(self) -> float:
        return self.get("start")

    @property
    def final_lr(self) -> float:
        if self.kind == "slr":
            return self.get("peak") * self.get("factor") ** len(self.get("drops"))
        return self.get("end")

    @property
    def max_lr(self) -> float:
        return self.get("peak")

    def warmup_iterations(self, n: int) -> int:
        w = self.get("warmup")
        if w == 0 or n < 2:
            return 0
        return min(n - 1, max(1, int(math.floor(w * n + 0.5))))

    def lr_at_iteration(self, t: int, n: int) -> float:
        """The LR of iteration ``t`` (0-based) of a run of ``n`` iterations."""
        if not 0 <= t < n:
            raise ValueError(f"iteration {t} is outside a run of {n} iterations")
        p, s, wn = self.get("peak"), self.get("start"), self.warmup_iterations(n)
        if t < wn:
            r = t / wn
            if self.kind != "linear" or self.get("shape") == "cos":
                r = (1.0 - math.cos(math.pi * r)) / 2.0
            return s + (p - s) * r
        d = n - wn
        u = (t - wn) / (d - 1) if d > 1 else 0.0
        if self.kind == "linear":
            return p + (self.get("end") - p) * u
        if self.kind == "onecycle":
            e = self.get("end")
            return e + (p - e) * (1.0 + math.cos(math.pi * u)) / 2.0
        k = sum(1 for f in self.get("drops") if t >= wn + math.floor(f * d))
        return p * self.get("factor") ** k

    def iteration_lrs(self, epochs: int, steps_per_epoch: int) -> list[float]:
        n = epochs * steps_per_epoch
        return [self.lr_at_iteration(t, n) for t in range(n)]

    def lrs(self, total_epochs: int, steps_per_epoch: int = 1) -> list[float]:
        """The LR of each epoch's first iteration."""
        n = total_epochs * steps_per_epoch
        return [self.lr_at_iteration(e * steps_per_epoch, n) for e in range(total_epochs)]

    def first_stage_epochs(self, total_epochs: int) -> int:
        return total_epochs  # no constant-LR stages: the whole run counts as one

    def decay_epochs(self, total_epochs: int) -> list[int]:
        return []

    def tail(self, start_epoch: int) -> Any:
        raise ConfigError(f"a {self.kind} schedule has no tail; use a step schedule for rewinding")

    def __str__(self) -> str:
        items = []
        for key, value in self.params:
            if key in _LR_KEYS:
                text = format_lr(value)
            elif key == "drops":
                text = "/".join(_fraction(f) for f in value)
            elif key in ("warmup", "factor"):
                text = _fraction(value)
            else:
                text = str(value)
            items.append(f"{key}={text}")
        return f"{self.kind}:" + ",".join(items)


def is_iter_form(value: Any) -> bool:
    if isinstance(value, dict):  # an epoch -> LR mapping has no "kind"
        return "kind" in value
    return isinstance(value, str) and value.strip().split(":", 1)[0] in KINDS


def _number(key: str, value: Any, source: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"schedule {source!r}: {key} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ConfigError(f"schedule {source!r}: {key} must be a finite number >= 0, got {value!r}")
    return number


def _fields(value: Any) -> tuple[str, dict[str, Any], str]:
    if isinstance(value, dict):
        fields = dict(value)
        kind = fields.pop("kind", None)
        source = str(value)
        if kind not in KINDS:
            raise ConfigError(f"schedule mapping needs kind: one of {', '.join(KINDS)}, got {kind!r}")
        return kind, fields, source
    source = value.strip()
    kind, _, body = source.partition(":")
    fields = {}
    for item in filter(None, (i.strip() for i in body.split(","))):
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"schedule entry {item!r} is not KEY=VALUE in {source!r}")
        if key.strip() in fields:
            raise ConfigError(f"schedule {source!r}: {key.strip()} given twice")
        fields[key.strip()] = text.strip()
    return kind, fields, source


def _drops(value: Any, source: str) -> tuple[float, ...]:
    items = value.split("/") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    drops = tuple(_number("drops", v, source) for v in items)
    if not all(0 < f < 1 for f in drops) or list(drops) != sorted(set(drops)):
        raise ConfigError(f"schedule {source!r}: drops must be increasing fractions in (0, 1), got {value!r}")
    return drops


def parse_iter(value: Any) -> IterSchedule:
    """Parse and validate a per-iteration schedule (string or mapping)."""
    kind, fields, source = _fields(value)
    unknown = sorted(set(fields) - set(_KEYS[kind]))
    if unknown:
        raise ConfigError(f"schedule {source!r}: unknown key(s) {', '.join(unknown)}; {kind} takes {', '.join(_KEYS[kind])}")
    if "peak" not in fields:
        raise ConfigError(f"schedule {source!r}: {kind} needs peak")
    peak = _number("peak", fields["peak"], source)
    if peak <= 0:
        raise ConfigError(f"schedule {source!r}: peak must be > 0, got {fields['peak']!r}")
    out: dict[str, Any] = {"peak": peak}
    out["start"] = _number("start", fields.get("start", 0.0 if kind == "linear" else peak / 100), source)
    if kind != "slr":
        default_end = 0.0 if kind == "linear" else out["start"] / 100
        out["end"] = _number("end", fields.get("end", default_end), source)
    for key in ("start", "end"):
        if key in out and out[key] > peak:
            raise ConfigError(f"schedule {source!r}: {key} {out[key]} is above the peak {peak}")
    out["warmup"] = _number("warmup", fields.get("warmup", 0.1), source)
    if out["warmup"] >= 1:
        raise ConfigError(f"schedule {source!r}: warmup is a fraction of the run in [0, 1), got {fields['warmup']!r}"
                          " (a warm-up as long as the run leaves nothing after it)")
    if kind == "linear":
        out["shape"] = str(fields.get("shape", "linear"))
        if out["shape"] not in SHAPES:
            raise ConfigError(f"schedule {source!r}: shape must be one of {', '.join(SHAPES)}, got {out['shape']!r}")
    if kind == "slr":
        out["drops"] = _drops(fields.get("drops", "0.5/0.75"), source)
        out["factor"] = _number("factor", fields.get("factor", 0.1), source)
        if not 0 < out["factor"] < 1:
            raise ConfigError(f"schedule {source!r}: factor must be in (0, 1), got {fields['factor']!r}")
    return IterSchedule(kind, tuple((k, out[k]) for k in _KEYS[kind]))

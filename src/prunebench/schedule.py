"""Learning-rate schedules.

Two written forms, used across the pruning literature and in every prunebench spec:

* step: ``"0:0.1,30:0.01,60:0.001"`` -- at the start of epoch ``e`` the LR is the value of the largest
  key ``<= e`` (piecewise constant, set once per epoch);
* cosine: ``"cosine:START:END"`` -- anneals from START at epoch 0 to END at the last epoch of the run.

The authors' code and appendix write step schedules with braces and spaces, ``{0:0.01, 30:0.001,
60:1e-4}``; that form is accepted everywhere a schedule is (and so is the mapping YAML makes of it
when it is left unquoted). What prunebench stores and prints is always the canonical form of
:func:`normalize` (``0:1e-2,30:1e-3,60:1e-4``).

Cosine and PyTorch: ``CosineAnnealingLR(T_max=N - 1, eta_min=END)`` stepped once per epoch gives the
same per-epoch LRs (the last epoch, N - 1, runs at exactly END). With ``T_max=N``, as often written,
PyTorch's last epoch runs at ``END + (START - END) * (1 + cos(pi (N-1)/N)) / 2``, slightly above END:
prunebench reaches END one epoch earlier than that.

:func:`derive` builds a retraining schedule by the rules of Wang et al. (2023), and
:func:`extend_first_stage` adds ``k`` epochs to the first stage ("+k epochs").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .schedule_iter import IterSchedule, format_lr, is_iter_form, parse_iter


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``kind`` is ``"step"`` or ``"cosine"``; ``points`` holds (epoch, lr) pairs:
    the step boundaries, or ``[(0, start), (None, end)]`` for cosine (its length is the run's)."""

    kind: str
    points: tuple[tuple[int, float], ...]
    per_iteration = False

    @property
    def max_lr(self) -> float:
        return max(v for _, v in self.points)

    @property
    def initial_lr(self) -> float:
        return self.points[0][1]

    @property
    def final_lr(self) -> float:
        return self.points[-1][1]

    def lr_at(self, epoch: int, total_epochs: int) -> float:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if self.kind == "cosine":
            start, end = self.points[0][1], self.points[1][1]
            if total_epochs <= 1:
                return start
            frac = min(epoch, total_epochs - 1) / (total_epochs - 1)
            return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * frac))
        lr = self.points[0][1]
        for key, value in self.points:
            if key <= epoch:
                lr = value
            else:
                break
        return lr

    def lrs(self, total_epochs: int, steps_per_epoch: int = 1) -> list[float]:
        """The LR of every epoch of a run of ``total_epochs`` epochs (set once per epoch)."""
        return [self.lr_at(e, total_epochs) for e in range(total_epochs)]

    def first_stage_epochs(self, total_epochs: int) -> int:
        """Length of the first LR stage within a run (the N of trainability accuracy). A cosine
        schedule has no stages; the whole run counts as one."""
        if self.kind == "cosine" or len(self.points) == 1:
            return total_epochs
        return min(self.points[1][0], total_epochs)

    def decay_epochs(self, total_epochs: int) -> list[int]:
        """Epochs at which a step schedule lowers the LR (inside the run)."""
        if self.kind == "cosine":
            return []
        return [k for k, _ in self.points[1:] if k < total_epochs]

    def tail(self, start_epoch: int) -> "Schedule":
        """The schedule replayed from ``start_epoch``: epoch 0 of the result is ``start_epoch`` here
        (learning-rate rewinding, and the remainder of a scratch schedule for PxFy)."""
        if self.kind == "cosine":
            raise ConfigError("a cosine schedule has no tail; use a step schedule for rewinding")
        if start_epoch < 0:
            raise ConfigError(f"tail start epoch must be >= 0, got {start_epoch}")
        points = [(0, self.lr_at(start_epoch, start_epoch + 1))]
        points += [(k - start_epoch, v) for k, v in self.points if k > start_epoch]
        return Schedule("step", tuple(points))

    def __str__(self) -> str:
        if self.kind == "cosine":
            return f"cosine:{format_lr(self.points[0][1])}:{format_lr(self.points[1][1])}"
        return ",".join(f"{k}:{format_lr(v)}" for k, v in self.points)


def _parse_lr(text: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"bad LR {text!r} in schedule {source!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"LR must be a finite number >= 0, got {text!r} in schedule {source!r}")
    return value


def _from_mapping(mapping: dict) -> str:
    """``{0: 0.01, 30: 0.001}`` (an unquoted braced schedule read by YAML) as a schedule string."""
    if not mapping:
        raise ConfigError("LR schedule mapping is empty")
    return ",".join(f"{k}:{v}" for k, v in mapping.items())


def _strip_braces(source: str) -> str:
    if source.startswith("{") != source.endswith("}"):
        raise ConfigError(f"unbalanced braces in schedule {source!r}")
    if source.startswith("{"):
        source = source[1:-1].strip()
        if not source:
            raise ConfigError("LR schedule '{}' is empty")
    return source


def parse(text: Any) -> "Schedule | IterSchedule":
    """Parse a schedule string (braces optional), a bare number (a constant LR), an epoch -> LR
    mapping, or a per-iteration schedule's string or ``kind:`` mapping (:mod:`prunebench.schedule_iter`)."""
    if is_iter_form(text):
        return parse_iter(text)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Schedule("step", ((0, _parse_lr(str(text), str(text))),))
    if isinstance(text, dict):
        text = _from_mapping(text)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"LR schedule must be a non-empty string, got {text!r}")
    source = _strip_braces(text.strip())
    if source.startswith("cosine:"):
        parts = source.split(":")
        if len(parts) != 3:
            raise ConfigError(f"cosine schedule must be 'cosine:START:END', got {source!r}")
        return Schedule("cosine", ((0, _parse_lr(parts[1], source)), (0, _parse_lr(parts[2], source))))
    if ":" not in source:
        return Schedule("step", ((0, _parse_lr(source, source)),))
    points: list[tuple[int, float]] = []
    for item in source.split(","):
        key, sep, value = (part.strip() for part in item.strip().partition(":"))
        if not sep:
            raise ConfigError(f"schedule entry {item.strip()!r} is not EPOCH:LR in {source!r}")
        try:
            epoch = int(key)
        except ValueError:
            raise ConfigError(f"schedule epoch {key!r} is not an integer in {source!r}") from None
        if points and epoch <= points[-1][0]:
            raise ConfigError(f"schedule epochs must increase, got {epoch} after {points[-1][0]} in {source!r}")
        points.append((epoch, _parse_lr(value, source)))
    if points[0][0] != 0:
        raise ConfigError(f"schedule must start at epoch 0, got {points[0][0]} in {source!r}")
    return Schedule("step", tuple(points))


def from_lrs(lrs: list[float]) -> str:
    """The step schedule that runs ``lrs[e]`` in epoch ``e`` (consecutive equal LRs merged): an
    epoch-indexed LR sequence written as a schedule string (its length is not part of it)."""
    if not lrs:
        raise ConfigError("an LR sequence needs at least one epoch")
    points: list[tuple[int, float]] = []
    for epoch, lr in enumerate(lrs):
        if not points or not math.isclose(points[-1][1], lr, rel_tol=1e-9):
            points.append((epoch, float(lr)))
    return str(Schedule("step", tuple(points)))


def normalize(text: Any) -> str:
    """Canonical string of a schedule (what specs store)."""
    return str(parse(text))


def derive(initial_lr: float, final_lr: float, epochs: int, *, max_stage: int = 30, factor: float = 10.0) -> str:
    """A step schedule of ``epochs`` epochs by the paper's rules.

    Rule 1: stages go ``initial_lr, initial_lr/factor, ...`` down to ``final_lr`` (the last stage is
    exactly ``final_lr``). Rule 2: each stage but the last takes half of the epochs still left,
    rounded up; the last takes the rest. Rule 3: no stage but the last is longer than ``max_stage``.
    """
    if not (0 < initial_lr < math.inf and 0 < final_lr < math.inf):
        raise ConfigError(f"derive needs positive, finite LRs, got {initial_lr} and {final_lr}")
    if max_stage < 1:
        raise ConfigError(f"the longest stage must be >= 1 epoch, got {max_stage}")
    if final_lr > initial_lr:
        raise ConfigError(f"final LR {final_lr} is above the initial LR {initial_lr}")
    if factor <= 1:
        raise ConfigError(f"decay factor must be > 1, got {factor}")
    lrs = [initial_lr]
    while lrs[-1] / factor > final_lr * (1 + 1e-9):
        lrs.append(lrs[-1] / factor)
    if not math.isclose(lrs[-1], final_lr, rel_tol=1e-9):
        lrs.append(final_lr)
    lrs = [float(f"{v:.12g}") for v in lrs]
    if epochs < len(lrs):
        raise ConfigError(f"{epochs} epochs cannot hold {len(lrs)} LR stages from {initial_lr} to {final_lr}")
    points, start, left = [], 0, epochs
    for i, lr in enumerate(lrs):
        points.append((start, lr))
        if i == len(lrs) - 1:
            break
        stages_after = len(lrs) - 1 - i
        length = min(math.ceil(left / 2), max_stage, left - stages_after)
        start, left = start + length, left - length
    return str(Schedule("step", tuple(points)))


def extend_first_stage(text: str, k: int) -> str:
    """Add ``k`` epochs to the first stage: every later boundary moves by ``k``."""
    sched = parse(text)
    if sched.kind != "step":
        raise ConfigError(f"'+k epochs' needs a step schedule, not {sched.kind}")
    if k < 0:
        raise ConfigError(f"+k epochs must be >= 0, got {k}")
    points = [(0, sched.points[0][1])] + [(e + k, v) for e, v in sched.points[1:]]
    return str(Schedule("step", tuple(points)))

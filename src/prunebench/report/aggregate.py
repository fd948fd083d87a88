"""Aggregation of run rows: per (arm, pruning ratio) statistics and Welch's t-test against the reference.

Only runs with status ``done`` count towards any statistic, and the accuracy is always the final
epoch's (a row's ``test_acc``): a report never picks a best epoch. Diverged, failed and unfinished
runs are counted, not averaged.
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from ..errors import PrunebenchError

#: Fields averaged per group: (row key, attribute name of GroupStats).
METRICS: tuple[str, ...] = (
    "test_acc", "val_acc", "ta_train", "ta_test", "jsv_mean_start", "jsv_mean_end",
    "params", "macs", "sparsity", "speedup", "epochs",
)
ALPHA = 0.05
RATIO_DIGITS = 6  # ratios are grouped after rounding: 0.7 and 0.7000000000000001 are one column


class ReportError(PrunebenchError):
    """The rows or metadata handed to the report cannot be reported."""


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; None when n < 2) and n of one metric."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        vals = [float(v) for v in values]
        if not vals:
            return cls(None, None, 0)
        mean = math.fsum(vals) / len(vals)
        std = statistics.stdev(vals) if len(vals) >= 2 else None
        return cls(mean, std, len(vals))


@dataclass(frozen=True)
class Welch:
    """Welch's t-test of an arm against the reference arm at the same ratio. ``p`` is None (and
    ``reason`` says why) when the test cannot be made."""

    t: float | None
    p: float | None
    reason: str | None = None

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA

    def describe(self) -> str:
        if self.p is None:
            return f"n/a ({self.reason})"
        return f"p={self.p:.3g}" + (" (significant)" if self.significant else "")


@dataclass(frozen=True)
class GroupStats:
    arm: str
    ratio: float
    n_runs: int
    n_done: int
    n_diverged: int
    n_failed: int
    n_unfinished: int
    metrics: dict[str, Stat]
    converged_false: int
    converged_known: int
    welch: Welch | None  # None for the reference arm itself
    acc_values: tuple[float, ...] = field(default=(), repr=False)

    def stat(self, key: str) -> Stat:
        return self.metrics[key]


@dataclass(frozen=True)
class Aggregate:
    reference: str
    arms: tuple[str, ...]
    ratios: tuple[float, ...]
    groups: dict[tuple[str, float], GroupStats]

    def get(self, arm: str, ratio: float) -> GroupStats | None:
        return self.groups.get((arm, ratio))


def ratio_key(value: Any) -> float:
    try:
        return round(float(value), RATIO_DIGITS)
    except (TypeError, ValueError):
        raise ReportError(f"pruning ratio {value!r} is not a number") from None


def paper_numbers(paper: dict | None, arm: str) -> dict[float, float]:
    """Published accuracies (percent) of one arm by ratio; entries that are not numbers are dropped."""
    by_ratio = (paper or {}).get(arm) or {}
    return {ratio_key(r): float(v) for r, v in by_ratio.items() if _finite(v)}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def welch_test(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Welch's t-test (unequal variances). Needs n >= 2 on both sides and some variance."""
    if len(a) < 2 or len(b) < 2:
        return Welch(None, None, f"needs n >= 2 in both arms, have n={len(a)} vs n={len(b)}")
    if statistics.pvariance(a) == 0 and statistics.pvariance(b) == 0:
        return Welch(None, None, "both arms have zero variance")
    from scipy.stats import ttest_ind

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ttest_ind(list(a), list(b), equal_var=False)
    t, p = float(res.statistic), float(res.pvalue)
    if not math.isfinite(p):
        return Welch(None, None, "test undefined for these values")
    return Welch(t, p)


def _ordered_arms(rows: Iterable[dict], reference: str) -> tuple[str, ...]:
    seen: list[str] = []
    for row in rows:
        if row["arm"] not in seen:
            seen.append(row["arm"])
    if reference in seen:  # the reference leads every table
        seen.remove(reference)
        seen.insert(0, reference)
    return tuple(seen)


def _group(arm: str, ratio: float, rows: list[dict]) -> GroupStats:
    done = [r for r in rows if r.get("status") == "done"]
    metrics = {k: Stat.of([r[k] for r in done if _finite(r.get(k))]) for k in METRICS}
    known = [r["converged_at_first_decay"] for r in done if r.get("converged_at_first_decay") is not None]
    return GroupStats(
        arm=arm, ratio=ratio, n_runs=len(rows), n_done=len(done),
        n_diverged=sum(r.get("status") == "diverged" for r in rows),
        n_failed=sum(r.get("status") == "failed" for r in rows),
        n_unfinished=sum(r.get("status") in ("pending", "running") for r in rows),
        metrics=metrics, converged_false=sum(not k for k in known), converged_known=len(known),
        welch=None,
        acc_values=tuple(float(r["test_acc"]) for r in done if _finite(r.get("test_acc"))),
    )


def _check(rows: Sequence[dict]) -> None:
    for i, row in enumerate(rows):
        for key in ("run_id", "arm", "ratio", "status"):
            if key not in row:
                raise ReportError(f"run row {i} has no {key!r} field")


def aggregate(rows: Sequence[dict], reference: str) -> Aggregate:
    """Group rows by (arm, ratio) and test every arm against ``reference`` at each ratio."""
    _check(rows)
    buckets: dict[tuple[str, float], list[dict]] = {}
    for row in rows:
        buckets.setdefault((row["arm"], ratio_key(row["ratio"])), []).append(row)
    groups = {key: _group(key[0], key[1], rs) for key, rs in buckets.items()}
    for (arm, ratio), g in list(groups.items()):
        if arm == reference:
            continue
        ref = groups.get((reference, ratio))
        if ref is None:
            welch = Welch(None, None, f"no reference arm {reference!r} at ratio {ratio:g}")
        else:
            welch = welch_test(g.acc_values, ref.acc_values)
        groups[(arm, ratio)] = replace(g, welch=welch)
    ratios = tuple(sorted({k[1] for k in groups}))
    return Aggregate(reference, _ordered_arms(rows, reference), ratios, groups)


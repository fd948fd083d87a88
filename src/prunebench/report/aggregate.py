"""Aggregation of run rows: per (arm, pruning ratio) statistics and a test against the reference.

Each arm is compared with its reference (the study's reference arm, or its group's under
``compare``) at the same ratio: a paired test over seeds when the two arms pruned the same base model
at every seed, Welch's unpaired t-test otherwise (see :mod:`.paired`).

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
from .paired import Comparison, compare_runs

#: Fields averaged per group: (row key, attribute name of GroupStats).
METRICS: tuple[str, ...] = (
    "base_acc", "pruned_acc", "chance_acc", "test_acc", "val_acc", "ta_train", "ta_test", "jsv_mean_start", "jsv_mean_end",
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
    comparison: Comparison | None  # None for a reference arm itself
    acc_values: tuple[float, ...] = field(default=(), repr=False)
    reference: str | None = None  # the arm this one is compared with (None: it is a reference)
    done_rows: tuple[dict, ...] = field(default=(), repr=False)  # seed, base, test_acc of finished runs

    def stat(self, key: str) -> Stat:
        return self.metrics[key]

    @property
    def welch(self) -> Comparison | None:
        """The comparison with the reference (kept under its old name; it may be a paired test)."""
        return self.comparison


@dataclass(frozen=True)
class Aggregate:
    reference: str
    arms: tuple[str, ...]
    ratios: tuple[float, ...]
    groups: dict[tuple[str, float], GroupStats]
    references: dict[str, str] = field(default_factory=dict)  # arm -> its group's reference arm

    def reference_of(self, arm: str) -> str:
        return self.references.get(arm, self.reference)

    def tests_used(self) -> set[str]:
        return {g.comparison.test for g in self.groups.values() if g.comparison is not None}

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


def _ordered_arms(rows: Iterable[dict], reference: str, references: dict[str, str]) -> tuple[str, ...]:
    """Study order, the reference first; with grouped comparisons each group's reference leads the
    arms compared with it (groups in the order of their first arm)."""
    seen: list[str] = []
    for row in rows:
        if row["arm"] not in seen:
            seen.append(row["arm"])
    if not references:
        if reference in seen:  # the reference leads every table
            seen.remove(reference)
            seen.insert(0, reference)
        return tuple(seen)
    leaders: list[str] = []
    for arm in seen:
        lead = references.get(arm, arm)
        if lead not in leaders:
            leaders.append(lead)
    out: list[str] = []
    for lead in leaders:
        out += [lead] if lead in seen else []
        out += [a for a in seen if references.get(a, a) == lead and a != lead]
    return tuple(out + [a for a in seen if a not in out])


def _group(arm: str, ratio: float, rows: list[dict]) -> GroupStats:
    done = [r for r in rows if r.get("status") == "done"]
    metrics = {k: Stat.of([r[k] for r in done if _finite(r.get(k))]) for k in METRICS}
    # The accuracy right after pruning describes an arm's starting point only when it keeps the pruned
    # weights; a re-initialised (or scratch) arm starts elsewhere.
    metrics["pruned_acc"] = Stat.of([r["pruned_acc"] for r in done
                                     if _finite(r.get("pruned_acc")) and r.get("reinit") in (None, "keep")])
    known = [r["converged_at_first_decay"] for r in done if r.get("converged_at_first_decay") is not None]
    return GroupStats(
        arm=arm, ratio=ratio, n_runs=len(rows), n_done=len(done),
        n_diverged=sum(r.get("status") == "diverged" for r in rows),
        n_failed=sum(r.get("status") == "failed" for r in rows),
        n_unfinished=sum(r.get("status") in ("pending", "running") for r in rows),
        metrics=metrics, converged_false=sum(not k for k in known), converged_known=len(known),
        comparison=None,
        acc_values=tuple(float(r["test_acc"]) for r in done if _finite(r.get("test_acc"))),
        done_rows=tuple({"seed": r.get("seed"), "base": r.get("base"), "test_acc": float(r["test_acc"])}
                        for r in done if _finite(r.get("test_acc"))),
    )


def _check(rows: Sequence[dict]) -> None:
    for i, row in enumerate(rows):
        for key in ("run_id", "arm", "ratio", "status"):
            if key not in row:
                raise ReportError(f"run row {i} has no {key!r} field")


def aggregate(rows: Sequence[dict], reference: str, references: dict[str, str] | None = None) -> Aggregate:
    """Group rows by (arm, ratio) and test every arm against its reference at each ratio:
    ``references[arm]`` when given (grouped comparisons), else ``reference``. An arm that is its own
    reference is not tested."""
    _check(rows)
    refs = dict(references or {})
    buckets: dict[tuple[str, float], list[dict]] = {}
    for row in rows:
        buckets.setdefault((row["arm"], ratio_key(row["ratio"])), []).append(row)
    groups = {key: _group(key[0], key[1], rs) for key, rs in buckets.items()}
    for (arm, ratio), g in list(groups.items()):
        ref_arm = refs.get(arm, reference)
        if arm == ref_arm:
            continue
        ref = groups.get((ref_arm, ratio))
        if ref is None:
            test = Comparison("welch", None, None, reason=f"no reference arm {ref_arm!r} at ratio {ratio:g}")
        else:
            test = compare_runs(g.done_rows, ref.done_rows)
        groups[(arm, ratio)] = replace(g, comparison=test, reference=ref_arm)
    ratios = tuple(sorted({k[1] for k in groups}))
    return Aggregate(reference, _ordered_arms(rows, reference, refs), ratios, groups, refs)


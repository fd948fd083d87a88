"""Warnings about the numbers a reader checks first, read off the run rows (report and console).

* a base model within a few points of chance: whatever the arms do after pruning it, the comparison
  says nothing about pruning a trained network;
* retraining that ends below the accuracy right after pruning (arms that keep the pruned weights):
  the retraining recipe hurt, or the run is too short to recover;
* diverged runs.

Accuracies are printed in percent, like every table of the report.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

#: A base model this close to chance (percentage points) gets a warning.
CHANCE_MARGIN = 0.05


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def chance_warnings(rows: Sequence[dict]) -> list[str]:
    """One line per base model (seed) whose test accuracy is within CHANCE_MARGIN of chance."""
    found: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        base, chance = _num(r.get("base_acc")), _num(r.get("chance_acc"))
        if base is None or chance is None or base >= chance + CHANCE_MARGIN:
            continue
        key = (r.get("seed"), round(base, 9), round(chance, 9))
        found.setdefault(key, {"arms": []})["arms"].append(str(r["arm"]))
    out = []
    for (seed, base, chance), info in sorted(found.items(), key=lambda kv: str(kv[0])):
        arms = sorted(set(info["arms"]))
        out.append(f"base model of seed {seed} is at chance level: test accuracy {_pct(base)} vs chance "
                   f"{_pct(chance)} (within {CHANCE_MARGIN * 100:g} points); the arms pruning it "
                   f"({', '.join(arms)}) prune a network that has not learned the task: check the base recipe and the "
                   "data set's augmentation")
    return out


def below_pruned_warnings(rows: Sequence[dict]) -> list[str]:
    """Per (arm, ratio): finished runs that kept the pruned weights and ended below their accuracy
    right after pruning."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        if r.get("status") == "done" and r.get("reinit") in (None, "keep"):
            groups.setdefault((str(r["arm"]), float(r["ratio"])), []).append(r)
    out = []
    for (arm, ratio), runs in groups.items():
        pairs = [(_num(r.get("pruned_acc")), _num(r.get("test_acc"))) for r in runs]
        pairs = [(p, t) for p, t in pairs if p is not None and t is not None]
        worse = [(p, t) for p, t in pairs if t < p]
        if worse:
            mp = sum(p for p, _ in worse) / len(worse)
            mt = sum(t for _, t in worse) / len(worse)
            out.append(f"arm {arm} at ratio {ratio:g}: retraining ended below the accuracy right after pruning "
                       f"in {len(worse)} of {len(pairs)} runs (mean {_pct(mp)} after pruning, {_pct(mt)} final)")
    return out


def diverged_warnings(rows: Sequence[dict]) -> list[str]:
    by_arm: dict[str, list[str]] = {}
    for r in rows:
        if r.get("status") == "diverged":
            by_arm.setdefault(str(r["arm"]), []).append(f"ratio {float(r['ratio']):g} seed {r.get('seed')}")
    return [f"arm {arm} diverged in {len(runs)} run(s): {', '.join(runs)}" for arm, runs in by_arm.items()]


def reader_warnings(rows: Sequence[dict]) -> list[str]:
    return chance_warnings(rows) + below_pruned_warnings(rows) + diverged_warnings(rows)

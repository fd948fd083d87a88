"""The literature audit of one table: which comparisons it draws, the setup each meets, what is
unknown, and the calibration flags (:mod:`.flags`).

Comparisons are drawn, in this order of precedence:

1. ``reference`` given: every other row with a result against that row;
2. some row has ``compare_to``: each such row against the row it names (the method vs its reference);
3. otherwise all pairs within the same dataset, model and group (``group`` column, else the
   compression bucket of :func:`bucket`).

Only rows with a ``top1`` are compared; rows without one (a published recipe without a result) get
the row flags only.
"""
from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from typing import Any, Sequence

from ..errors import ConfigError
from ..fairness.columns import check_tolerance, parse_row
from ..fairness.setups import (CHAIN, SETUP_NAMES, column_states, needed_state, pair_result, required_columns,
                               row_label)
from .flags import PAIR_RULES, ROW_RULES


def compression(row: dict[str, Any]) -> float | None:
    """The row's compression rate as a factor: its speedup, else 100 / (100 - sparsity)."""
    if row.get("speedup"):
        return float(row["speedup"])
    s = row.get("sparsity")
    return 100.0 / (100.0 - s) if s is not None and s < 100 else None


def bucket(row: dict[str, Any]) -> str | None:
    """Half-octave bucket of the compression rate: [1, 1.41)x, [1.41, 2)x, [2, 2.83)x, ..."""
    rate = compression(row)
    if rate is None or rate <= 0:
        return None
    k = math.floor(2 * math.log2(rate) + 1e-9)
    return f"[{2 ** (k / 2):.3g}, {2 ** ((k + 1) / 2):.3g})x"


def _labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    labels = [row_label(row, f"row {i}") for i, row in enumerate(rows, start=1)]
    repeated = sorted({n for n in labels if labels.count(n) > 1})
    if repeated:
        raise ConfigError(f"row names must be unique; repeated: {', '.join(map(repr, repeated[:5]))}")
    return labels


def _pairs(typed: list[dict[str, Any]], labels: list[str], reference: str | None) -> tuple[list[tuple[int, int]], str]:
    results = [i for i, r in enumerate(typed) if r["top1"] is not None]
    index = {name: i for i, name in enumerate(labels)}
    if reference is not None:
        if reference not in index:
            raise ConfigError(f"reference row {reference!r} not found; rows: {', '.join(map(repr, labels[:10]))}")
        ref = index[reference]
        return [(ref, i) for i in results if i != ref], f"every row against {reference!r}"
    if any(r["compare_to"] for r in typed):
        pairs = []
        for i, r in enumerate(typed):
            target = r["compare_to"]
            if target is None or r["top1"] is None:
                continue
            if target not in index:
                raise ConfigError(f"row {labels[i]!r}, column 'compare_to': no row named {target!r}")
            pairs.append((index[target], i))
        return pairs, "each row against the row its compare_to names"
    groups: dict[tuple, list[int]] = {}
    for i in results:
        r = typed[i]
        key = (r["dataset"], r["model"], r["group"] or bucket(r))
        if None not in key:
            groups.setdefault(key, []).append(i)
    return [p for members in groups.values() for p in combinations(members, 2)], \
        "all pairs within a dataset, model and compression bucket"


def _rule_results(rules, *args) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    flags, unknown = [], []
    for rule in rules:
        verdict = rule.check(*args)
        if verdict is not None:
            (flags if verdict[0] == "flag" else unknown).append({"rule": rule.name, "message": verdict[1]})
    return flags, unknown


def _comparison(typed, labels, a: int, b: int, tolerance: float, target: str) -> dict[str, Any]:
    ref, row = typed[a], typed[b]
    states = column_states(ref, row, tolerance)
    pair = pair_result(labels[a], labels[b], states)
    seen = [needed_state(states, c) for c in required_columns(target)]
    flags, unknown = _rule_results(PAIR_RULES, ref, row, pair)
    delta = row["top1"] - ref["top1"] if ref["top1"] is not None else None
    return {**pair, "missing": [c for c, s in seen if s == "missing"], "dataset": row["dataset"],
            "model": row["model"], "top1_a": ref["top1"], "top1_b": row["top1"], "delta": delta,
            "paper_setup": row["paper_setup"], "flags": flags, "undecided": unknown}


def audit_table(
    name: str, rows: Sequence[dict[str, Any]], reference: str | None = None, *, tolerance: float = 0.02,
    target: str = "S3.2",
) -> dict[str, Any]:
    """The literature audit of one table: ``{"table", "mode", "rows": [...], "comparisons": [...],
    "summary": {...}}``."""
    tolerance = check_tolerance(tolerance)
    required_columns(target)
    labels = _labels(rows)
    typed = [parse_row(r, f"row {label!r}") for r, label in zip(rows, labels)]
    pairs, mode = _pairs(typed, labels, reference)
    comparisons = [_comparison(typed, labels, a, b, tolerance, target) for a, b in pairs]
    row_reports = []
    for label, row in zip(labels, typed):
        flags, unknown = _rule_results(ROW_RULES, row)
        row_reports.append({"name": label, "source": row["source"], "top1": row["top1"], "speedup": row["speedup"],
                            "sparsity": row["sparsity"], "note": row["note"], "flags": flags, "undecided": unknown})
    compared = {labels[i] for p in pairs for i in p}
    unplaced = [label for label, row in zip(labels, typed) if label not in compared]
    summary = _summary(name, typed, comparisons, row_reports, unplaced, target)
    return {"table": name, "mode": mode, "tolerance": tolerance, "rows": row_reports,
            "comparisons": comparisons, "summary": summary}


def _absent(typed: list[dict[str, Any]], target: str) -> dict[str, list[str]]:
    """Setup columns no result row gives, each with the setups it leaves undecided everywhere."""
    results = [r for r in typed if r["top1"] is not None] or typed
    out = {}
    for setup in SETUP_NAMES:
        for column in required_columns(setup):
            cols = ("macs", "speedup", "sparsity") if column == "macs" else (column,)
            if all(r[c] is None for r in results for c in cols):
                out.setdefault("macs/speedup/sparsity" if column == "macs" else column, []).append(setup)
    return out


def _summary(name, typed, comparisons, row_reports, unplaced, target) -> dict[str, Any]:
    strictest = Counter(c["strictest"] or "none" for c in comparisons)
    s1_unknown = sum(1 for c in comparisons if "S1" in c["unknown"])
    flag_counts: dict[str, dict[str, int]] = {}
    for rule in (*ROW_RULES, *PAIR_RULES):
        items = row_reports if rule in ROW_RULES else comparisons
        flag_counts[rule.name] = {
            "flagged": sum(1 for it in items if any(f["rule"] == rule.name for f in it["flags"])),
            "undecided": sum(1 for it in items if any(f["rule"] == rule.name for f in it["undecided"])),
        }
    summary = {
        "table": name,
        "n_rows": len(typed),
        "n_results": sum(1 for r in typed if r["top1"] is not None),
        "n_comparisons": len(comparisons),
        "target": target,
        "by_strictest": {s: strictest.get(s, 0) for s in (*CHAIN, "none")},
        "s1_unknown": s1_unknown,
        "meets_target": sum(1 for c in comparisons if target in c["holds"]),
        "sx": {s: sum(1 for c in comparisons if s in c["holds"]) for s in ("SX-A", "SX-B")},
        "flags": flag_counts,
        "absent": _absent(typed, target),
        "unplaced": unplaced,
    }
    summary["line"] = summary_line(summary)
    return summary


def summary_line(s: dict[str, Any]) -> str:
    n = s["n_comparisons"]
    if n == 0:
        return f"{s['table']}: no comparisons drawn ({s['n_rows']} rows, {s['n_results']} with a result)."
    by = s["by_strictest"]
    parts = [f"{by[x]} meet {x} at best" for x in CHAIN[1:] if by[x]]
    none = by["none"]
    head = (f"of {n} published comparisons in {s['table']}, {s['meets_target']} meet {s['target']} or stricter; "
            f"{by['S1']} are S1-only")
    tail = [*parts]
    if none:
        why = f" ({s['s1_unknown']} of them because S1 is unknown)" if s["s1_unknown"] else ""
        tail.append(f"{none} meet no chain setup{why}")
    for sx, count in s["sx"].items():
        if count:
            tail.append(f"{sx} holds for {count}")
    flagged = [f"{k} {v['flagged']}" for k, v in s["flags"].items() if v["flagged"]]
    text = head + ("; " + "; ".join(tail) if tail else "") + "."
    if flagged:
        text += " Flags: " + ", ".join(flagged) + "."
    return text

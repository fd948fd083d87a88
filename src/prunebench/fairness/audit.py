"""Audit of a study's result rows: every row compared with one reference row, plus a study-level
summary (the strictest setup every comparison meets, and the comparisons that fall short of the
target setup -- S3.2 by default, the paper's recommendation -- with the columns to blame).
"""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import ConfigError
from .columns import check_tolerance, parse_row
from .setups import CHAIN, SETUP_NAMES, column_states, needed_state, pair_result, required_columns, row_label

#: The paper's recommendation (§4, rec. 1): S3.2 or stricter.
DEFAULT_TARGET = "S3.2"


def audit_rows(
    rows: Sequence[dict[str, Any]],
    reference: str | None = None,
    tolerance: float = 0.02,
    *,
    target: str = DEFAULT_TARGET,
) -> dict[str, Any]:
    """Compare every row with the reference row (by name; default the first row).

    Returns ``{"pairs": [compare_rows-style dict, ...], "summary": {...}}``; rows without a name are
    called ``row N`` (1-based position).
    """
    tolerance = check_tolerance(tolerance)
    required_columns(target)  # an unknown target is an error naming the valid setups
    labels = _labels(rows)
    ref_index = _reference_index(labels, reference)
    typed = [parse_row(row, f"row {label!r}") for row, label in zip(rows, labels)]
    pairs, states = [], []
    for i, row in enumerate(typed):
        if i == ref_index:
            continue
        states.append(column_states(typed[ref_index], row, tolerance))
        pairs.append(pair_result(labels[ref_index], labels[i], states[-1]))
    summary = _summary(pairs, states, labels[ref_index], tolerance, target)
    return {"pairs": pairs, "summary": summary}


def _labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    if len(rows) < 2:
        raise ConfigError(f"an audit needs at least two rows to compare, got {len(rows)}")
    labels = [row_label(row, f"row {i}") for i, row in enumerate(rows, start=1)]
    duplicates = sorted({name for name in labels if labels.count(name) > 1})
    if duplicates:
        raise ConfigError(f"row names must be unique; repeated: {', '.join(map(repr, duplicates))}")
    return labels


def _reference_index(labels: list[str], reference: str | None) -> int:
    if reference is None:
        return 0
    if reference not in labels:
        shown = ", ".join(map(repr, labels[:10])) + (", ..." if len(labels) > 10 else "")
        raise ConfigError(f"reference row {reference!r} not found; rows: {shown}")
    return labels.index(reference)


def _summary(
    pairs: list[dict[str, Any]], states: list[dict[str, str]], reference: str, tolerance: float, target: str
) -> dict[str, Any]:
    needed = required_columns(target)
    short = []
    for pair, state in zip(pairs, states):
        if target in pair["holds"]:
            continue
        seen = [needed_state(state, c) for c in needed]  # S1's rate under the column it was matched on
        short.append({
            "b": pair["b"],
            "strictest": pair["strictest"],
            "differs": [c for c, s in seen if s == "differs"],
            "missing": [c for c, s in seen if s == "missing"],
        })
    return {
        "reference": reference,
        "tolerance": tolerance,
        "target": target,
        "n_pairs": len(pairs),
        "strictest": _weakest([p["strictest"] for p in pairs]),
        "holds_every": [s for s in SETUP_NAMES if all(s in p["holds"] for p in pairs)],
        "meets_target": not short,
        "short": short,
    }


def _weakest(setups: list[str | None]) -> str | None:
    """The strictest chain setup all of ``setups`` meet: the weakest of them."""
    if not setups or any(s is None for s in setups):
        return None
    return CHAIN[min(CHAIN.index(s) for s in setups)]


def summary_line(summary: dict[str, Any]) -> str:
    """One sentence a person can read: the study's setup and what keeps it from the target."""
    ref, target = summary["reference"], summary["target"]
    if not summary.get("n_pairs"):
        return f"nothing to audit: no comparison with {ref!r}."
    met = summary["strictest"]
    head = f"every comparison with {ref!r} meets {met}" if met else f"not every comparison with {ref!r} meets S1"
    if summary["meets_target"]:
        return f"{head}; all {summary['n_pairs']} meet the target {target}."
    reasons = []
    for item in summary["short"]:
        why = [f"differs: {', '.join(item['differs'])}"] if item["differs"] else []
        why += [f"missing: {', '.join(item['missing'])}"] if item["missing"] else []
        reasons.append(f"{item['b']} ({'; '.join(why)})")
    return f"{head}; {len(summary['short'])} of {summary['n_pairs']} fall short of {target}: " + ", ".join(reasons)

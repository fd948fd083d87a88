"""One fairness summary of a study audit, said the same way by the report and by `prunebench audit DIR`.

Two kinds of comparison are counted apart, both always included:

* *pruning comparisons* (the two runs pruned base models): judged against the target setup
  (S3.2 by default, the paper's recommendation) on the chain S1 ... S4.2;
* *scratch-style comparisons* (one side trains from fresh weights, so no base model is shared and S2
  cannot hold): judged by SX-A (equal total epochs) and SX-B (equal total compute); one falls short
  when it holds neither (or the target, when the target is SX-A or SX-B).

With grouped comparisons the headline names the factors the study varies on purpose: they are held
equal inside every comparison, never counted as a defect.
"""
from __future__ import annotations

from typing import Any

CHAIN = ("S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2")
SX = ("SX-A", "SX-B")


def scratch_style(pair: dict) -> bool:
    """A study audit marks comparisons with a fresh start (``fresh_start``); for other pairs: some SX
    setup holds but S2 (same base) does not."""
    if "fresh_start" in pair:
        return bool(pair["fresh_start"])
    holds = [str(h) for h in pair.get("holds") or []]
    return any(h.startswith("SX") for h in holds) and "S2" not in holds


def is_short(pair: dict, target: str) -> bool:
    holds = pair.get("holds") or []
    if scratch_style(pair):
        return target not in holds if target in SX else not any(h in holds for h in SX)
    return target not in holds


def _rank(setup: str | None) -> int:
    return CHAIN.index(setup) if setup in CHAIN else -1


def _summary_target(audit: dict) -> str:
    return str((audit.get("summary") or {}).get("target") or "S3.2")


def strict_failures(audit: dict, target: str | None = None) -> list[dict]:
    """The comparisons that fall short (what `prunebench audit --strict` exits non-zero for)."""
    target = target or _summary_target(audit)
    return [p for p in audit.get("pairs") or [] if is_short(p, target)]


def _names(values: Any) -> str:
    seen: list[str] = []
    for v in values:
        if str(v) not in seen:
            seen.append(str(v))
    return ", ".join(f"'{v}'" for v in seen)


def study_headline(audit: dict) -> str:
    """The one-sentence fairness summary of a study audit."""
    summary = audit.get("summary") or {}
    target = _summary_target(audit)
    pairs = audit.get("pairs") or []
    pruning = [p for p in pairs if not scratch_style(p)]
    scratch = [p for p in pairs if scratch_style(p)]
    parts = []
    if pruning:
        against = _names(p.get("a") for p in pruning)
        weakest = min((p.get("strictest") for p in pruning), key=_rank) or "none (not even S1)"
        short = sum(is_short(p, target) for p in pruning)
        parts.append(f"{len(pruning)} pruning comparison(s) with {against}: weakest setup {weakest}; "
                     f"{short} of {len(pruning)} fall short of {target}")
    if scratch:
        held = {sx: sum(sx in (p.get("holds") or []) for p in scratch) for sx in SX}
        short = sum(is_short(p, target) for p in scratch)
        parts.append(f"{len(scratch)} scratch-style comparison(s) with {_names(p.get('a') for p in scratch)} "
                     "(no shared base; judged by SX-A / SX-B): "
                     f"SX-A holds in {held['SX-A']}, SX-B in {held['SX-B']}; {short} hold neither")
    if not parts:
        skipped = summary.get("skipped") or []
        parts.append(f"nothing to audit: no arm's finished run has a finished reference run to compare with "
                     f"({len(skipped)} (ratio, seed) group(s) lack their reference's run)" if skipped
                     else "nothing to audit: no pair of finished runs (an arm's and its reference's, same ratio "
                          "and seed) yet")
    compare = summary.get("compare") or {}
    if compare.get("within"):
        varied = ", ".join(compare["within"])
        tested = f" (testing {', '.join(compare['by'])})" if compare.get("by") else ""
        parts.append(f"the study varies {varied} on purpose{tested}: each arm is compared with the reference "
                     f"of its own {varied} level, so {varied} is never counted as a difference")
    return "Fairness: " + "; ".join(parts) + "."

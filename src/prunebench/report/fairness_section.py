"""The report's fairness section: the comparison-setup audit and recommendations read off the rows.

Recommendations follow Wang et al. (2023): S3.2 or stricter, convergence before the first LR decay,
scratch compared at the same final LR, every failure shown.
"""
from __future__ import annotations

from itertools import combinations
from typing import Sequence

from .. import schedule as lr_schedule
from ..errors import PrunebenchError
from .aggregate import Aggregate, ratio_key
from .headline import is_short, scratch_style, study_headline

LADDER = ("S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2")
RECOMMENDED = "S3.2"


def _rank(setup: str | None) -> int:
    return LADDER.index(setup) if setup in LADDER else -1


def falls_short(pair: dict) -> bool:
    """Below S3.2; a scratch-style comparison (SX-A / SX-B) when it holds neither (see .headline)."""
    return is_short(pair, RECOMMENDED)


def _scratch_style(pair: dict) -> bool:
    """A comparison of runs that do not share a base model (scratch training vs pruning), judged by
    SX-A / SX-B (see .headline.scratch_style)."""
    return scratch_style(pair)


def _arm_of(pair: dict) -> str:
    return str(pair.get("arm") or pair.get("b", "?"))


def _folded(pairs: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Pairs grouped by (reference, arm): a study audits one pair per ratio and seed."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for p in pairs:
        groups.setdefault((str(p.get("a", "?")), _arm_of(p)), []).append(p)
    return groups


def _count(group: list[dict]) -> str:
    return f" in {len(group)} comparisons" if len(group) > 1 else ""


def _shortfall_reason(group: list[dict]) -> str:
    differs = sorted({str(d) for p in group for d in p.get("differs") or []})
    unknown = sorted({str(u) for p in group for u in p.get("unknown") or []})
    parts = (["differs in " + ", ".join(differs)] if differs else []) + (["unknown: " + ", ".join(unknown)] if unknown else [])
    return "; ".join(parts) or "no reason given by the audit"


def study_level(audit: dict) -> str | None:
    """The weakest setup over the pruning comparisons (a study is only as fair as its weakest one);
    scratch-style pairs that hold SX-A / SX-B are judged by that instead and left out."""
    pairs = audit.get("pairs") or []
    levels = [p.get("strictest") for p in pairs if not _scratch_style(p)]
    if not levels:
        return "scratch-style only (judged by SX-A / SX-B below)" if pairs else None
    return min(levels, key=_rank) or "below S1 (none holds)"


def _weakest(group: list[dict]) -> str:
    return min((p.get("strictest") for p in group), key=_rank) or "none"


def audit_lines(audit: dict | None) -> tuple[list[str], list[str]]:
    """(facts, shortfalls) as plain sentences, one per compared arm (its ratios and seeds folded)."""
    if not audit:
        return ["No comparison-setup audit was supplied (run `prunebench audit`)."], []
    pairs = audit.get("pairs") or []
    facts = [study_headline(audit) + f" Recommended: {RECOMMENDED} or stricter."]
    groups = _folded(pairs)
    sx = []
    for (a, arm), group in groups.items():
        if all(_scratch_style(p) for p in group):
            held = [h for h in ("SO", "SX-A", "SX-B") if all(h in (p.get("holds") or []) for p in group)]
            labels = sorted({str(p.get("table4")) for p in group if p.get("table4")})
            table4 = f"; Table 4 would call it {' / '.join(labels)}" if labels else ""
            sx.append(f"{a} vs {arm} ({', '.join(held) or 'neither SX-A nor SX-B in every one'}{table4}){_count(group)}")
    if sx:
        facts.append("Scratch-style comparisons (equal total epochs SX-A / equal FLOPs SX-B / same overall LR "
                     "schedule SO, Table 4's 'S4.2'): " + "; ".join(sx))
    summary = audit.get("summary") or {}
    if summary.get("target") is not None:
        facts.append(f"Numbers compared within a relative tolerance of {summary.get('tolerance', '?')}; "
                     f"target setup {summary['target']}.")
    for skip in summary.get("skipped") or []:
        facts.append(f"Not audited: ratio {skip.get('ratio')}, seed {skip.get('seed')}: {skip.get('reason')}.")
    shortfalls = []
    for (a, arm), group in groups.items():
        short = [p for p in group if falls_short(p)]
        if short:
            tuned = sorted({p["tuning"] for p in short if p.get("tuning")})  # study/tuning.py: LRs chosen by another rule
            why = f" (the retraining LR was chosen by another rule: {' / '.join(tuned)})" if tuned else ""
            shortfalls.append(f"{a} vs {arm}: strictest setup {_weakest(short)}; {_shortfall_reason(short)}{why}{_count(short)}")
    return facts, shortfalls


def _convergence(agg: Aggregate) -> list[str]:
    out = []
    for (arm, ratio), g in sorted(agg.groups.items(), key=lambda kv: (agg.arms.index(kv[0][0]), kv[0][1])):
        if g.converged_false:
            out.append(f"arm {arm}'s first LR stage ended before convergence at ratio {ratio:g} "
                       f"(converged_at_first_decay false in {g.converged_false} of {g.converged_known} runs): "
                       "give it more epochs (extend the first LR stage, '+k epochs').")
    return out


def _schedules(rows: Sequence[dict], arm: str) -> tuple[tuple[str, str], ...]:
    found = {(str(r.get("lr_schedule")), str(r.get("epochs"))) for r in rows
             if r["arm"] == arm and r.get("status") == "done"}  # the recipe a finished run executed
    return tuple(sorted(found))


def _starts_fresh(rows: Sequence[dict], arm: str) -> bool:
    """Whether an arm trains from a fresh init (scratch-style), as its finished runs recorded."""
    return any(r.get("fresh_start") for r in rows if r["arm"] == arm)


def _final_lrs(sched: tuple[tuple[str, str], ...]) -> set[float]:
    out = set()
    for text, _ in sched:
        try:
            out.add(lr_schedule.parse(text).final_lr)
        except (PrunebenchError, ValueError):
            continue
    return out


def _fmt_sched(sched: tuple[tuple[str, str], ...]) -> str:
    return "; ".join(f"'{s}' for {e} epochs" for s, e in sched) or "unknown"


def _schedule_recs(rows: Sequence[dict], arms: Sequence[str]) -> list[str]:
    out = []
    for a, b in combinations(arms, 2):
        sa, sb = _schedules(rows, a), _schedules(rows, b)
        if not sa or not sb or sa == sb:
            continue
        if _starts_fresh(rows, a) or _starts_fresh(rows, b):
            fa, fb = _final_lrs(sa), _final_lrs(sb)
            if fa and fb and fa != fb:
                out.append(f"arms {a} and {b} compare pruning with scratch training at different final LRs "
                           f"({', '.join(map(str, sorted(fa)))} vs {', '.join(map(str, sorted(fb)))}): "
                           "compare them at the same final LR.")
            continue
        same_epochs = {e for _, e in sa} == {e for _, e in sb}
        level = "an S3.1 comparison (same epochs, different LR schedule)" if same_epochs else "an S2 comparison"
        out.append(f"arms {a} and {b} differ in retraining schedule (lr_schedule/epochs: {_fmt_sched(sa)} vs "
                   f"{_fmt_sched(sb)}): this is {level}; {RECOMMENDED} or stricter is recommended.")
    return out


def _seed_recs(agg: Aggregate) -> list[str]:
    few = [f"{a} @ {r:g} (n={g.stat('test_acc').n})" for (a, r), g in agg.groups.items()
           if g.stat("test_acc").n < 2]
    if not few:
        return []
    return ["too few finished seeds for a significance test (needs n >= 2, 3+ preferred): " + ", ".join(few) + "."]


def recommendations(rows: Sequence[dict], agg: Aggregate) -> list[str]:
    recs = _convergence(agg) + _schedule_recs(rows, agg.arms) + _seed_recs(agg)
    unfinished = sum(g.n_unfinished for g in agg.groups.values())
    if unfinished:
        recs.append(f"{unfinished} run(s) are still pending or running: this report is partial.")
    return recs


def problem_runs(rows: Sequence[dict]) -> list[str]:
    """One line per failed or diverged run, with its error message."""
    out = []
    for r in rows:
        if r.get("status") in ("failed", "diverged"):
            err = r.get("error") or "no error message recorded"
            out.append(f"{r['status']}: run {r['run_id']} (arm {r['arm']}, ratio {ratio_key(r['ratio']):g}, "
                       f"seed {r.get('seed')}): {err}")
    return out

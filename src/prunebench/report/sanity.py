"""The report's "Sanity checks" section: each sanity-check arm against the arm it checks, per ratio.

For a ``same-ratios-random`` arm the question is the one Su et al. and Frankle et al. ask: does the
criterion's *choice of units* beat a random choice at its own per-layer ratios? The line gives the
checked arm minus the sanity arm (final test accuracy, finished runs) with its test from
report/paired.py (paired by seed when both pruned the same base models, else Welch), and says "yes"
only when the difference is positive and significant; "worse" when significantly negative; otherwise
"no significant difference". The other kinds get the same comparison under their own question.
"""
from __future__ import annotations

from typing import Any, Sequence

from .paired import compare_runs

QUESTIONS = {
    "same-ratios-random": "does its choice of units beat random units at its own per-layer ratios",
    "shuffled-mask": "does its mask beat the same mask shuffled within each layer",
    "inverted": "does it beat removing the units it scores highest",
    "reinit-on-mask": "do its kept weights beat a fresh init of the same pruned model",
}


def _done(rows: Sequence[dict], arm: str, ratio: float) -> list[dict]:
    return [r for r in rows if r.get("arm") == arm and r.get("ratio") == ratio and r.get("status") == "done"
            and r.get("test_acc") is not None]


def sanity_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per sanity arm and ratio (empty when the study has no sanity arm)."""
    pairs = sorted({(r["arm"], r["of"], r["sanity"]) for r in rows if r.get("sanity") and r.get("of")})
    out = []
    for arm, of, kind in pairs:
        criterion = next((r.get("criterion") for r in rows if r.get("arm") == of), None) or "?"
        ratios = sorted({r["ratio"] for r in rows if r.get("arm") == arm})
        for ratio in ratios:
            mine, theirs = _done(rows, of, ratio), _done(rows, arm, ratio)
            head = f"{of} ({criterion}) vs {arm} ({kind}) at ratio {ratio:g}: {QUESTIONS.get(kind, kind)}?"
            if not mine or not theirs:
                out.append(f"{head} not yet: {len(mine)} and {len(theirs)} finished runs")
                continue
            c = compare_runs(mine, theirs)  # the checked arm minus the sanity arm
            if c.p is None:
                verdict = "undecided"
            elif c.significant:
                verdict = "yes" if c.diff > 0 else "no, it is worse"
            else:
                verdict = "no significant difference"
            out.append(f"{head} {verdict}: {c.describe()}")
    return out

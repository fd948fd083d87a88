"""Reading a study directory: run rows for the report and the CSV, fairness rows and the study's
comparison-setup audit, and a status summary. Everything here only reads the database."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .job import FINISHED
from .store import Store

#: Result fields copied into a run row (report.writer.RUN_FIELDS names the CSV's columns).
RESULT_FIELDS = (
    "base_acc", "pruned_acc", "chance_acc", "test_acc", "val_acc", "ta_train", "ta_test", "jsv_mean_start", "jsv_mean_end", "converged_at_first_decay",
    "params", "macs", "dense_params", "dense_macs", "sparsity", "speedup", "epochs",
)


def _with_store(study_dir: str | Path, fn: Any) -> Any:
    store = Store.open(study_dir)
    try:
        return fn(store)
    finally:
        store.close()


def run_row(row: dict[str, Any]) -> dict[str, Any]:
    """One stored pipeline run as a flat report row (missing results are None)."""
    result = row.get("result") or {}
    meta = row.get("meta") or {}
    regime = (row.get("spec") or {}).get("regime") or {}
    fair = result.get("fairness") or {}
    out: dict[str, Any] = {k: row[k] for k in ("run_id", "arm", "ratio", "seed", "status", "error")}
    out.update({k: result.get(k) for k in RESULT_FIELDS})
    out["lr_schedule"] = fair.get("retrain_lr") or regime.get("lr_schedule")
    out["regime"] = meta.get("regime") or regime.get("name")
    # Whether the run trained from a fresh init (its regime said so when it resolved; unknown until done).
    out["fresh_start"] = (fair.get("base") == "fresh-init") if fair else None
    out["reinit"] = result.get("reinit") or meta.get("reinit")
    out["criterion"] = meta.get("criterion")
    out["sanity"], out["of"] = meta.get("sanity"), meta.get("of")  # a sanity-check arm and the arm it checks
    out["tuning"] = result.get("tuning")  # a tuned arm's selected run: grid, chosen LR, candidates (study/tuning.py)
    out["base"] = fair.get("base")  # the base run id (``fresh-init`` for scratch): pairs runs by seed
    out["history"] = list(row.get("history") or [])
    return out


def study_rows(study_dir: str | Path) -> list[dict[str, Any]]:
    """The report's run rows: one per pipeline run of the current study file, in study order."""
    from .tuning import select_rows

    return _with_store(study_dir, lambda s: [run_row(r) for r in select_rows(s.rows(kind="run"))])


def study_meta(study_dir: str | Path) -> dict[str, Any]:
    """What the report needs to know about the study (name, description, reference, paper, ...)."""
    keys = ("name", "description", "reference", "paper", "study", "study_file", "created_at", "driver")
    return _with_store(study_dir, lambda s: {k: s.get_meta(k) for k in keys})


def fairness_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The fairness-audit row of a finished run (None when it has no fairness record)."""
    fair = (row.get("result") or {}).get("fairness")
    if row["status"] not in FINISHED or not fair:
        return None
    return {"name": f"{row['arm']}@{row['ratio']:g}/seed{row['seed']}", **fair}


def fairness_rows(study_dir: str | Path) -> list[dict[str, Any]]:
    from .tuning import select_rows

    rows = _with_store(study_dir, lambda s: select_rows(s.rows(kind="run")))
    # Rows in fairness.columns' format: a tuned run's ``tuning`` note is no column (audit_study compares it).
    return [{k: v for k, v in f.items() if k != "tuning"} for f in map(fairness_row, rows) if f is not None]


def audit_study(study_dir: str | Path, *, tolerance: float = 0.02, target: str | None = None,
                reference: str | None = None, compare: str | None = None) -> dict[str, Any]:
    """Each arm's runs against its reference arm's run at the same ratio and seed.

    The reference is the study's (or ``reference``); with grouped comparisons (the study's
    ``compare``, or ``compare`` given as ``within=...`` / ``by=...``; ``none`` drops it) each arm is
    audited against its own group's reference, so a factor the study varies on purpose between groups
    is never counted against it.

    Returns ``{"pairs": [...], "summary": {...}}`` like :func:`prunebench.fairness.audit_rows`; a pair's
    ``b`` names the run (``ARM@RATIO/seedS``) and it also carries ``arm``, ``ratio`` and ``seed``. The
    summary adds ``groups``, ``skipped`` (no finished reference run), ``short_by_arm`` (the
    shortfalls folded per arm, with run counts) and ``compare`` (the factors varied on purpose).
    """
    from .compare import comparison_plan

    meta_keys = ("reference", "study")
    from .tuning import select_rows

    meta, rows = _with_store(study_dir, lambda s: ({k: s.get_meta(k) for k in meta_keys}, select_rows(s.rows(kind="run"))))
    plan = comparison_plan(meta, reference=reference, compare=compare)
    groups: dict[tuple[float, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        fair = fairness_row(row)
        if fair is not None:
            groups.setdefault((row["ratio"], row["seed"]), {})[row["arm"]] = {**fair, "name": row["arm"]}
    return audit_groups(groups, plan["reference"], tolerance=tolerance, target=target,
                        references=plan["references"], compare=plan["compare"])


def audit_groups(groups: dict[tuple[float, int], dict[str, dict[str, Any]]], reference: str, *,
                 tolerance: float = 0.02, target: str | None = None, references: dict[str, str] | None = None,
                 compare: Any = None) -> dict[str, Any]:
    """:func:`audit_study` on fairness rows already grouped by (ratio, seed), then by arm;
    ``references`` maps an arm to its group's reference (default: ``reference`` for every arm)."""
    from ..fairness import DEFAULT_TARGET, audit_rows
    from .tuning import mark_tuning

    target = target or DEFAULT_TARGET
    refs = dict(references or {})
    pairs, summaries, skipped = [], [], []
    for (ratio, seed), by_arm in sorted(groups.items()):
        leads: dict[str, list[str]] = {}
        for arm in by_arm:
            leads.setdefault(refs.get(arm, reference), []).append(arm)
        for lead, members in leads.items():
            if lead not in by_arm:
                skipped.append({"ratio": ratio, "seed": seed, "reason": f"no finished run of reference arm {lead!r}"})
                continue
            others = [by_arm[a] for a in members if a != lead]
            if not others:
                continue
            # A tuned arm's record says how its LR was chosen; the audit compares that here (study/tuning.py).
            tunings = {a: by_arm[a].get("tuning") for a in members}
            plain = [{k: v for k, v in r.items() if k != "tuning"} for r in (by_arm[lead], *others)]
            result = mark_tuning(audit_rows(plain, reference=lead, tolerance=tolerance, target=target),
                                 tunings, lead, target)
            pairs += [{**p, "arm": p["b"], "ratio": ratio, "seed": seed, "b": f"{p['b']}@{ratio:g}/seed{seed}",
                       "fresh_start": _fresh(by_arm[lead]) or _fresh(by_arm[p["b"]])}
                      for p in result["pairs"]]
            summary = result["summary"]
            summary["short"] = [{**item, "arm": item["b"], "ratio": ratio, "seed": seed,
                                 "b": f"{item['b']}@{ratio:g}/seed{seed}"} for item in summary["short"]]
            summaries.append(summary)
    merged = _merge(summaries, reference, tolerance, target, skipped)
    merged["compare"] = compare
    if refs:
        merged["references"] = sorted(set(refs.values()), key=list(refs.values()).index)
    return {"pairs": pairs, "summary": merged}


def _fresh(fair: dict[str, Any]) -> bool:
    """Whether a run started from fresh weights (scratch training): it shares no base model, and its
    comparisons are judged by SX-A / SX-B."""
    return fair.get("base") == "fresh-init"


def _merge(summaries: list[dict[str, Any]], reference: str, tolerance: float, target: str,
           skipped: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary over all (ratio, seed) groups; ``short_by_arm`` folds the shortfalls per arm."""
    from ..fairness import CHAIN, SETUP_NAMES

    stricts = [s["strictest"] for s in summaries]
    strictest = None if not stricts or None in stricts else CHAIN[min(CHAIN.index(s) for s in stricts)]
    short = [item for s in summaries for item in s["short"]]
    by_arm: dict[tuple, dict[str, Any]] = {}
    for item in short:
        key = (item["arm"], item["strictest"], tuple(item["differs"]), tuple(item["missing"]))
        folded = by_arm.setdefault(key, {k: item[k] for k in ("arm", "strictest", "differs", "missing")} | {"runs": 0})
        folded["runs"] += 1
    return {
        "reference": reference,
        "tolerance": tolerance,
        "target": target,
        "n_pairs": sum(s["n_pairs"] for s in summaries),
        "groups": len(summaries),
        "strictest": strictest,
        "holds_every": [x for x in SETUP_NAMES if summaries and all(x in s["holds_every"] for s in summaries)],
        "meets_target": bool(summaries) and not short,
        "short": short,
        "short_by_arm": list(by_arm.values()),
        "skipped": skipped,
    }


def driver_alive(study_dir: str | Path) -> bool:
    """Whether a `prunebench run` holds this study's driver lock right now."""
    import fcntl

    lock = Path(study_dir) / ".driver.lock"
    if not lock.is_file():
        return False
    try:
        fh = open(lock, "r")  # read-only: a read-only copy of a study has no driver
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def status_summary(study_dir: str | Path) -> dict[str, Any]:
    """Counts per kind and status, plus the runs that failed, diverged or are running. Runs marked
    running while no driver holds the study are reported as ``interrupted``, in the counts as in the
    list of runs (the next `prunebench run` resumes them from their last epoch checkpoint)."""
    alive = driver_alive(study_dir)

    def collect(store: Store) -> dict[str, Any]:
        rows = store.rows()
        notable = [
            {k: r[k] for k in ("run_id", "kind", "arm", "ratio", "seed", "status", "error", "attempts")}
            for r in rows if r["status"] in ("failed", "diverged", "running")
        ]
        counts = {"bases": store.counts(kind="base"), "runs": store.counts(kind="run"), "all": store.counts()}
        if not alive:  # the runs and the counts say the same: nobody is running them
            for r in notable:
                if r["status"] == "running":
                    r["status"] = "interrupted"
            for c in counts.values():
                c["interrupted"] = c.pop("running")
        return {
            "name": store.get_meta("name"),
            "dir": str(study_dir),
            "total": len(rows),
            **counts,
            "notable": notable,
            "driver_running": alive,
            "attempts": len(store.attempts()),
        }

    return _with_store(study_dir, collect)

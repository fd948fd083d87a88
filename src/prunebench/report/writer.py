"""write_report: everything under study_dir/report/, built in a temporary folder and swapped in, so a
crash never leaves a half-written report."""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from . import document as doc
from . import tables
from .aggregate import Aggregate, ReportError, aggregate
from .checks import reader_warnings
from .ratios import ratio_lines
from .sanity import sanity_lines
from .fairness_section import audit_lines, problem_runs, recommendations
from .plots import make_figures

RUN_FIELDS = (
    "run_id", "arm", "ratio", "seed", "status", "error", "base_acc", "pruned_acc", "test_acc", "val_acc",
    "chance_acc", "ta_train", "ta_test", "jsv_mean_start", "jsv_mean_end", "converged_at_first_decay", "params",
    "macs", "dense_params", "dense_macs", "sparsity", "speedup", "epochs", "lr_schedule", "regime", "reinit",
    "criterion", "base",
)
HISTORY_FIELDS = ("run_id", "epoch", "lr", "train_loss", "train_acc", "val_acc", "test_acc", "jsv_mean", "time_s")


def plain(value) -> str:
    """CSV text of a value: plain decimals (never scientific notation), exact round trip for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return np.format_float_positional(value, trim="-")
    return str(value)


def _csv(fields: Sequence[str], records: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for rec in records:
        w.writerow([plain(rec.get(f)) for f in fields])
    return buf.getvalue()


def results_csv(rows: Sequence[dict]) -> str:
    return _csv(RUN_FIELDS, rows)


def history_csv(rows: Sequence[dict]) -> str:
    return _csv(HISTORY_FIELDS, [{"run_id": r["run_id"], **h} for r in rows for h in r.get("history") or []])


def _counts(rows: Sequence[dict]) -> str:
    by: dict[str, int] = {}
    for r in rows:
        by[r.get("status", "?")] = by.get(r.get("status", "?"), 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(by.items()))


def _recipes(rows: Sequence[dict], agg: Aggregate) -> list[str]:
    """Every retraining detail per arm (paper recommendation 2: report the full LR schedule)."""
    out = []
    keys = ("regime", "criterion", "reinit", "lr_schedule", "epochs")
    for arm in agg.arms:
        # Finished runs only: an unfinished one has no executed recipe (its epochs are unknown).
        seen = sorted({tuple(str(r.get(k)) for k in keys) for r in rows if r["arm"] == arm and r.get("status") == "done"})
        for combo in seen:
            out.append(f"{arm}: " + ", ".join(f"{k}={v}" for k, v in zip(keys, combo)))
        tuned = [r for r in rows if r["arm"] == arm and r.get("tuning")]  # study/tuning.py: the selected runs
        if tuned:
            t = tuned[0]["tuning"]
            chosen = ", ".join(f"ratio {r['ratio']:g} seed {r['seed']}: {r['tuning']['lr']:g}"
                               for r in sorted(tuned, key=lambda r: (r["ratio"], r["seed"])))
            out.append(f"{arm}: LR tuned over [{', '.join(f'{v:g}' for v in t['grid'])}] on validation, per {t['per']} "
                       f"({t['candidates']} runs per seed counted in its compute; only the chosen run's test accuracy "
                       f"is reported); chosen {chosen}")
    return out


def _sanity_blocks(rows) -> list[doc.Block]:
    """The "Sanity checks" section, when the study has sanity-check arms (report/sanity.py)."""
    lines = sanity_lines(rows)
    if not lines:
        return []
    return [doc.Heading("Sanity checks"),
            doc.Para("Each criterion against its sanity-check arm (checked arm minus sanity arm, final test accuracy)."),
            doc.Bullets(tuple(lines))]


def build_blocks(rows, meta, audit, agg: Aggregate, figures) -> list[doc.Block]:
    facts, shortfalls = audit_lines(audit)
    blocks: list[doc.Block] = [
        doc.Heading(f"prunebench report: {meta.get('name', 'study')}", 1),
        doc.Para(str(meta.get("description") or "")),
        doc.Para(f"Reference arm: {agg.reference}. Runs: {len(rows)} ({_counts(rows)}). "
                 "Accuracies are final-epoch values of finished runs; no best epoch is picked."),
        doc.Heading("Warnings"),
        doc.Bullets(tuple(reader_warnings(rows)), empty="none: the base models are above chance, retraining "
                    "never ended below the pruned model, no run diverged", css="problems"),
        doc.Heading("Results"),
        doc.TableBlock(tables.accuracy_table(agg, meta.get("paper"))),
        doc.TableBlock(tables.detail_table(agg)),
        doc.Heading("Figures"),
        *[doc.FigureBlock(f) for f in figures],
        doc.Heading("Fairness"),
        doc.Heading("Comparison setups", 3),
        doc.Bullets(tuple(facts)),
        doc.Heading("Comparisons below S3.2", 3),
        doc.Bullets(tuple(shortfalls), empty="none" if audit else "no audit"),
        doc.Heading("Recommendations", 3),
        doc.Bullets(tuple(recommendations(rows, agg)), empty="none: no problem found in the rows"),
        doc.Heading("Failed and diverged runs", 3),
        doc.Bullets(tuple(problem_runs(rows)), css="problems"),
        *_sanity_blocks(rows),
        doc.Heading("Retraining recipes"),
        doc.Bullets(tuple(_recipes(rows, agg))),
        doc.Heading("What the pruning ratio means"),
        doc.Bullets(tuple(ratio_lines(meta, rows)), empty="the study records no model"),
    ]
    return [b for b in blocks if not (isinstance(b, doc.Para) and not b.text)]


def _write_all(out: Path, rows, meta, audit) -> None:
    reference = meta.get("reference")
    if not reference:
        raise ReportError("study metadata has no 'reference' arm")
    agg = aggregate(rows, str(reference), meta.get("references") or None)
    figures = make_figures(agg, rows, out / "figures", meta.get("paper"))
    blocks = build_blocks(rows, meta, audit, agg, figures)
    tabs = [tables.accuracy_table(agg, meta.get("paper")), tables.detail_table(agg)]
    title = f"prunebench report: {meta.get('name', 'study')}"
    files = {
        "report.html": doc.to_html(blocks, title),
        "report.md": doc.to_markdown(blocks),
        "tables.tex": "% needs \\usepackage{booktabs}\n" + "\n".join(tables.to_latex(t) for t in tabs),
        "tables.csv": tables.to_csv(tabs),
        "results.csv": results_csv(rows),
        "history.csv": history_csv(rows),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")


def _swap_in(new: Path, final: Path) -> None:
    """Replace ``final`` by ``new``; the previous report survives until the new one is in place."""
    if not final.exists():
        os.replace(new, final)
        return
    old = Path(tempfile.mkdtemp(prefix=".report-old-", dir=final.parent))
    os.replace(final, old / "report")
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(old / "report", final)
        shutil.rmtree(new, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_report(study_dir: Path, rows: list[dict], meta: dict, audit: dict | None = None, *,
                 report_dir: Path | None = None) -> Path:
    """Write report.html (self-contained), report.md, tables.tex, tables.csv, results.csv, history.csv
    and figures/*.png under study_dir/report/ (or ``report_dir``). Returns the path of report.html.
    Temporary folders an interrupted report left beside it are removed first."""
    final = Path(report_dir) if report_dir is not None else Path(study_dir) / "report"
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(parent)
    tmp = Path(tempfile.mkdtemp(prefix=".report-new-", dir=parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would make the report private to its writer
    try:
        _write_all(tmp, rows, meta, audit)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, final)
    return final / "report.html"


def clean_leftovers(parent: Path) -> list[Path]:
    """Remove the ``.report-new-*`` / ``.report-old-*`` folders a killed report left in ``parent``
    (a live report's folder is younger than a minute and is left alone)."""
    import time

    gone = []
    for path in list(parent.glob(".report-new-*")) + list(parent.glob(".report-old-*")):
        try:
            if path.is_dir() and not path.is_symlink() and time.time() - path.stat().st_mtime > LEFTOVER_AGE_S:
                shutil.rmtree(path)
                gone.append(path)
        except OSError:
            continue
    return gone


#: A temporary report folder older than this is a leftover of a killed report (seconds).
LEFTOVER_AGE_S = 60.0


def read_results_csv(path: Path) -> list[dict]:
    """The per-run rows of a results.csv, scalars parsed back (for tests and re-aggregation)."""
    ints = {"seed", "params", "macs", "dense_params", "dense_macs", "epochs"}
    texts = {"run_id", "arm", "status", "error", "lr_schedule", "regime", "reinit", "criterion", "base"}
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            row: dict = {}
            for k, v in rec.items():
                if v == "":
                    row[k] = None
                elif k in texts:
                    row[k] = v
                elif k == "converged_at_first_decay":
                    row[k] = v == "true"
                else:
                    row[k] = int(v) if k in ints else float(v)
            out.append(row)
    return out


__all__ = ["write_report", "results_csv", "read_results_csv", "history_csv", "plain"]

"""``prunebench report DIR``: tables, plots and the fairness section of a study."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write DIR/report/ (report.html, report.md, tables.tex, results.csv, figures)")
    p.add_argument("study_dir", metavar="DIR")
    add_comparison_flags(p)
    p.set_defaults(func=_report)


def add_comparison_flags(p: argparse.ArgumentParser) -> None:
    """--reference / --compare: compare a finished study's arms another way, without re-running it."""
    p.add_argument("--reference", metavar="ARM", help="compare with this arm instead of the study's reference")
    p.add_argument("--compare", metavar="within=F|by=F",
                   help="grouped comparisons: within=retrain.lr (each level its own reference), by=criterion "
                        "(the factor under test), none (every arm vs the reference); default: the study's own")


def _report(args: argparse.Namespace) -> int:
    from ..report import write_report
    from ..study.rows import audit_study, study_meta, study_rows
    from ..study.store import db_path

    study_dir = Path(args.study_dir)
    if not db_path(study_dir).is_file():
        raise ConfigError(f"{study_dir}: not a study directory (no study.sqlite); run `prunebench run STUDY.yaml` first")
    rows = study_rows(study_dir)
    if not rows:
        raise ConfigError(f"{study_dir}: the study has no runs yet")
    from ..study.compare import comparison_plan

    meta = study_meta(study_dir)
    plan = comparison_plan(meta, reference=args.reference, compare=args.compare)
    meta.update(plan)
    audit = audit_study(study_dir, reference=args.reference, compare=args.compare)
    html = write_report(study_dir, rows, meta, audit)
    from ..report.checks import reader_warnings

    for line in reader_warnings(rows):  # the report's warnings, on the console too
        print(f"warning: {line}", file=sys.stderr)
    print(html)
    return 0

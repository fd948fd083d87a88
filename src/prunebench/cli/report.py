"""``prunebench report DIR``: tables, plots and the fairness section of a study."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write DIR/report/ (report.html, report.md, tables.tex, results.csv, figures)")
    p.add_argument("study_dir", metavar="DIR")
    p.set_defaults(func=_report)


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
    html = write_report(study_dir, rows, study_meta(study_dir), audit_study(study_dir))
    print(html)
    return 0

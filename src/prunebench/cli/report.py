"""``prunebench report DIR``: tables, plots and the fairness section of a study."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write DIR/report/ (report.html, report.md, tables.tex, results.csv, figures)")
    p.add_argument("study_dir", metavar="DIR")
    p.add_argument("--out", metavar="REPORT_DIR",
                   help="write the report here instead of DIR/report (e.g. for a read-only copy of a study)")
    add_comparison_flags(p)
    p.set_defaults(func=_report)


def add_comparison_flags(p: argparse.ArgumentParser) -> None:
    """--reference / --compare: compare a finished study's arms another way, without re-running it."""
    p.add_argument("--reference", metavar="ARM", help="compare with this arm instead of the study's reference")
    p.add_argument("--compare", metavar="within=F|by=F",
                   help="grouped comparisons: within=retrain.lr (each level its own reference), by=criterion "
                        "(the factor under test), none (every arm vs the reference); default: the study's own")


def check_report_dir(path: Path) -> None:
    """A report directory given with --out is replaced as a whole: it must be new, empty, or hold a
    report already (never a file, never a folder of other things)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"{path}: exists and is not a directory (the report is a folder)")
    entries = {p.name for p in path.iterdir()}
    if entries and not entries & {"report.html", "report.md"}:
        raise ConfigError(f"{path}: a folder that holds other things than a report (it would be replaced "
                          "as a whole); choose a new or empty folder with --out")


def _report(args: argparse.Namespace) -> int:
    from ..report import write_report
    from ..study.rows import audit_study, study_meta, study_rows
    from ..study.store import db_path

    study_dir = Path(args.study_dir)
    if not db_path(study_dir).exists():
        raise ConfigError(f"{study_dir}: not a study directory (no study.sqlite); run `prunebench run STUDY.yaml` first")
    report_dir = Path(args.out) if args.out else None
    check_report_dir(report_dir if report_dir is not None else study_dir / "report")  # before any reading
    rows = study_rows(study_dir)
    if not rows:
        raise ConfigError(f"{study_dir}: the study has no runs yet")
    from ..study.compare import comparison_plan

    meta = study_meta(study_dir)
    if meta.get("paper") is not None:
        from ..study.spec import check_paper

        try:
            check_paper(meta["paper"]) if isinstance(meta["paper"], dict) else check_paper({"": None})
        except ValueError as err:
            raise ConfigError(f"{study_dir}: the study's recorded paper numbers are malformed (paper: {err}); fix "
                              "`paper` in the study file and `prunebench run` it again (that records it anew)") from None
    plan = comparison_plan(meta, reference=args.reference, compare=args.compare)
    meta.update(plan)
    audit = audit_study(study_dir, reference=args.reference, compare=args.compare)
    try:
        html = write_report(study_dir, rows, meta, audit, report_dir=report_dir)
    except OSError as err:
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and report_dir is None:
            raise ConfigError(f"{study_dir}: cannot write the report there ({os.strerror(err.errno)}); "
                              "give --out REPORT_DIR") from None
        where = report_dir or study_dir / "report"
        hint = ": disk full?" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
        raise ConfigError(f"{where}: cannot write the report ({err.strerror or err}{hint}); "
                          "any previous report is unchanged") from None
    from ..report.checks import reader_warnings

    for line in reader_warnings(rows):  # the report's warnings, on the console too
        print(f"warning: {line}", file=sys.stderr)
    print(html)
    return 0

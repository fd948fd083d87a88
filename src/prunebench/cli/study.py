"""``prunebench run | status | results``: run (or resume) a study, see where it stands, export rows.

``prunebench audit DIR`` lives in cli/audit.py (one ``audit`` parser for both forms); it calls
:func:`prunebench.study.audit_study`.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run (or resume) a study file: arms x ratios x seeds")
    p.add_argument("study", metavar="STUDY.yaml")
    p.add_argument("--out", metavar="DIR", help="study directory (default: runs/<study name>)")
    p.add_argument("--workers", type=int, help="parallel runs (default 1: in this process; Ray: cluster CPUs / T)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="local processes (default) or Ray")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join (e.g. auto, ray://host:10001)")
    p.add_argument("--no-progress", action="store_true", help="plain lines instead of a progress bar")
    p.add_argument("--accept-plugin-change", action="store_true",
                   help="resume although a plug-in's source changed since the stored results (recorded in the study)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="what a study directory holds: done, running, failed runs")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("results", help="one row per run of a study (CSV)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--csv", action="store_true", help="CSV on stdout (the default and only format)")
    p.set_defaults(func=cmd_results)


def cmd_run(args: argparse.Namespace) -> int:
    from ..study import run_study

    return run_study(args.study, args.out, workers=args.workers, threads=args.threads, executor=args.executor,
                     address=args.address, progress=False if args.no_progress else None,
                     accept_plugin_change=args.accept_plugin_change)


def cmd_status(args: argparse.Namespace) -> int:
    from ..study import status_summary

    status = status_summary(args.dir)
    if args.json:
        print_json(status)
    else:
        print(format_status(status))
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"


def format_status(status: dict[str, Any]) -> str:
    done = status["all"]["done"] + status["all"]["diverged"]
    lines = [
        f"study {status['name']!r} in {status['dir']}: {done}/{status['total']} finished",
        f"  base runs: {_counts(status['bases'])}",
        f"  pipeline runs: {_counts(status['runs'])}",
    ]
    stale = status["all"].get("running", 0)
    if stale and not status.get("driver_running", True):
        lines.append(f"  no driver is running: {stale} run(s) marked running were interrupted; "
                     "`prunebench run` resumes them from their last epoch checkpoint")
    for r in status["notable"]:
        what = f"base seed {r['seed']}" if r["kind"] == "base" else f"{r['arm']} ratio {r['ratio']:g} seed {r['seed']}"
        tail = f": {r['error']}" if r["error"] else ""
        lines.append(f"  {r['status']:<8} {r['run_id']} {what}{tail}")
    return "\n".join(lines)


def cmd_results(args: argparse.Namespace) -> int:
    from ..report.writer import results_csv
    from ..study import study_rows

    sys.stdout.write(results_csv(study_rows(args.dir)))
    return 0

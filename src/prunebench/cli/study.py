"""``prunebench run | status | results``: run (or resume) a study, see where it stands, export rows.

``prunebench audit DIR`` lives in cli/audit.py (one ``audit`` parser for both forms); it calls
:func:`prunebench.study.audit_study`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run (or resume) a study file: arms x ratios x seeds")
    p.add_argument("study", metavar="STUDY.yaml|DIR", help="a study file, or a study directory to resume")
    p.add_argument("--out", metavar="DIR", help="study directory (default: runs/<study name>)")
    p.add_argument("--workers", type=int, help="parallel runs (default 1: in this process; Ray: cluster CPUs / T)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="local processes (default) or Ray")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join (e.g. auto, ray://host:10001)")
    p.add_argument("--workers-per-gpu", type=int, metavar="K",
                   help="GPU runs: K workers share one GPU (pool), a task asks for 1/K GPU (Ray); default 1")
    p.add_argument("--no-progress", action="store_true", help="plain lines instead of a progress bar")
    p.add_argument("--accept-plugin-change", action="store_true",
                   help="resume although a plug-in's source changed since the stored results (recorded in the study)")
    p.add_argument("--accept-data-change", action="store_true",
                   help="resume although the data files the stored results were computed on changed (recorded in the study)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and show the arms (factorial arms expanded), runs and comparisons; write nothing")
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

    study_file, out = resume_target(args.study, args.out)
    if args.dry_run:
        from ..study.driver import prepare

        expansion, target = prepare(study_file, out)
        print(format_dry_run(expansion, target))
        print(format_placement(expansion, args.executor))
        return 0
    code = run_study(study_file, out, workers=args.workers, threads=args.threads, executor=args.executor,
                     address=args.address, workers_per_gpu=args.workers_per_gpu, progress=False if args.no_progress else None,
                     accept_plugin_change=args.accept_plugin_change, accept_data_change=args.accept_data_change)
    print_reader_warnings(out or Path("runs") / _study_name(study_file))
    return code


def _study_name(study_file: str | Path) -> str:
    from ..study.spec import load_study

    return load_study(study_file).name


def resume_target(given: str, out: str | None) -> tuple[str | Path, str | Path | None]:
    """``prunebench run DIR`` on a study directory resumes it: (its study file, DIR). The study file is
    the one recorded at its first run, or DIR/study.yaml (the expanded study) when that one is gone."""
    path = Path(given)
    if not path.is_dir():
        return given, out
    from ..errors import ConfigError
    from ..study.rows import study_meta
    from ..study.store import db_path

    if not db_path(path).is_file():
        raise ConfigError(f"{path}: a directory, but not a study directory (no study.sqlite); give a study file")
    if out is not None and Path(out).resolve() != path.resolve():
        raise ConfigError(f"{path}: resuming a study directory writes into it; --out {out} names another one")
    recorded = study_meta(path).get("study_file")
    if recorded and Path(recorded).is_file():
        return recorded, path
    if (path / "study.yaml").is_file():
        return path / "study.yaml", path
    raise ConfigError(f"{path}: holds no study.yaml and its recorded study file {recorded!r} is gone")


def format_dry_run(expansion: Any, target: Path) -> str:
    """The arms as the study expands them (one line each, with what distinguishes them), the run
    counts, and the comparisons the report and audit will make."""
    from ..study.compare import group_references, within_of
    from ..study.spec import regime_fields

    study = expansion.study
    lines = [f"study {study.name!r} -> {target}: {len(study.arms)} arm(s), {len(expansion.runs)} run(s), "
             f"{len(expansion.bases)} base run(s); nothing written (dry run)"]
    refs = group_references(study, study.compare)
    for arm in study.arms:
        recipe = regime_fields(study, arm)
        sched = recipe.get("lr_schedule") or (f"lr {recipe['lr']:g}" if recipe.get("lr") else "base schedule")
        ratios = ", ".join(f"{r:g}" for r in (arm.ratios or study.ratios))
        versus = "reference" if refs.get(arm.name, study.reference) == arm.name else f"vs {refs.get(arm.name, study.reference)}"
        method = arm.method_fields()
        stage = f"method {method['name']}, " if method else ""
        lines.append(f"  {arm.name}: {stage}criterion {arm.criterion}, reinit {arm.reinit}, regime {arm.regime_choice().name}, "
                     f"retrain {sched}, epochs {recipe.get('epochs', 'base')}; ratios {ratios}; {versus}"
                     + (f"; sanity check {arm.sanity} of {arm.of}" if arm.sanity else "")
                     + (f"; tuned: {arm.tune.describe()} ({len(arm.tune.lr)} runs each)" if arm.tune else ""))
    if study.compare is not None:
        lines.append(f"  compared within equal {', '.join(within_of(study, study.compare))} (varied on purpose)")
    return "\n".join(lines)


def format_placement(expansion: Any, executor: str) -> str:
    """Where the runs would compute on this machine (``auto`` resolved), or that Ray decides."""
    from ..devices import check_device_name, cuda_device_count
    from ..errors import PrunebenchError

    asked = sorted({j.device for j in expansion.jobs})
    if executor == "ray":
        return f"  devices: {', '.join(asked)} (placed on the Ray cluster's GPUs, if it has any)"
    gpus = cuda_device_count()
    parts = []
    for name in asked:
        try:
            parts.append(f"{name} -> {check_device_name(name, gpus)}")
        except PrunebenchError as err:
            parts.append(f"{name}: {str(err).removeprefix('device: ')}")
    return f"  devices on this machine ({gpus} GPU(s)): {'; '.join(parts)}"


def print_reader_warnings(study_dir: str | Path) -> None:
    """The warnings the report gives (chance-level base, retraining below the pruned model, divergence),
    on stderr, after a run."""
    from ..report.checks import reader_warnings
    from ..study import study_rows
    from ..study.store import db_path

    if not db_path(Path(study_dir)).is_file():
        return
    for line in reader_warnings(study_rows(study_dir)):
        print(f"warning: {line}", file=sys.stderr)


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
    stale = status["all"].get("interrupted", 0)
    if stale:
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

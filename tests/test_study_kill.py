"""Fault tolerance of the study driver, end to end, with real processes: kill -9 halfway and run
again gives bit-identical results with no finished run executed twice; Ctrl-C stops cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prunebench.study import Store
from test_study_spec import edited, write

pytestmark = pytest.mark.slow

# `python -m prunebench` with the study commands registered even before cli/__init__ lists them.
DRIVER = (
    "import sys, prunebench.cli as c\n"
    "c.GROUPS = c.GROUPS if 'study' in c.GROUPS else [*c.GROUPS, 'study']\n"
    "sys.exit(c.main(sys.argv[1:]))\n"
)

# Long enough that the driver is killed with runs in flight (mid-epoch, or with epoch checkpoints).
STUDY = edited(
    data={"name": "synthetic", "input_shape": [32], "num_classes": 4, "num_samples": 1024},
    model={"name": "mlp", "args": {"depth": 3, "width": 64}},
    base={"epochs": 4, "lr_schedule": "0:0.1,3:0.01", "batch_size": 32},
    retrain={"epochs": 6, "lr": 0.01},
    ratios=[0.25, 0.5],
    seeds=[0, 1],
)


def driver(args, **kw):
    env = {**os.environ, "PRUNEBENCH_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-c", DRIVER, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def results_csv(out: Path) -> str:
    from prunebench.report.writer import results_csv as to_csv
    from prunebench.study import study_rows

    return to_csv(study_rows(out))  # what `prunebench results DIR --csv` prints


def done_count(out: Path) -> int:
    if not (out / "study.sqlite").is_file():
        return 0
    try:
        store = Store.open(out)
        try:
            return store.counts(kind="run")["done"]
        finally:
            store.close()
    except Exception:  # the driver is still creating the database
        return 0


def wait_for(predicate, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def run_to_end(path: Path, out: Path) -> None:
    proc = driver(["run", str(path), "--out", str(out), "--workers", "2"])
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout + stderr


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.is_file() and "State:\tZ" in status.read_text())


def worker_pids(out: Path) -> set[int]:
    store = Store.open(out)
    try:
        return {r["provenance"]["pid"] for r in store.rows() if r["provenance"] and "pid" in r["provenance"]}
    finally:
        store.close()


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    path = write(tmp_path, STUDY)
    clean = tmp_path / "clean"
    run_to_end(path, clean)
    expected = results_csv(clean)

    for attempt in range(3):
        killed = tmp_path / f"killed-{attempt}"
        proc = driver(["run", str(path), "--out", str(killed), "--workers", "2"])
        # Kill once some runs are done and a run in flight has written an epoch checkpoint.
        wait_for(lambda: done_count(killed) >= 3 and any((killed / "runs").glob(".*.partial")), 120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        partial = sorted(p.name for p in (killed / "runs").glob(".*.partial"))
        if partial:
            break
        # On a loaded machine the run in flight can finish between the check and the kill (or in a
        # worker that has not noticed its driver died yet): kill again, in a fresh study directory.
    store = Store.open(killed)
    assert store.counts()["running"] >= 1 and store.counts(kind="run")["done"] < 8
    pids = worker_pids(killed)
    wait_for(lambda: not any(alive(pid) for pid in pids), 10)  # workers die with their driver
    from prunebench.study.rows import status_summary

    status = status_summary(killed)  # no driver holds the study: its "running" runs were interrupted
    assert status["driver_running"] is False
    assert {r["status"] for r in status["notable"]} >= {"interrupted"} and "running" not in {r["status"] for r in status["notable"]}

    run_to_end(path, killed)
    assert results_csv(killed) == expected  # bit-identical numbers, same run ids
    assert partial, "the kill should have caught a run with an epoch checkpoint"
    assert not list((killed / "runs").glob(".*.partial"))
    for row in store.rows():
        attempts = store.attempts(row["run_id"])
        executed = [a for a in attempts if a["outcome"] in ("done", "diverged", "failed")]
        assert len(executed) <= 1, attempts  # no finished run executed twice
        finished = [a for a in attempts if a["outcome"] in ("done", "recovered")]
        assert len(finished) == 1 and finished[0] is attempts[-1], attempts
    assert any(a["outcome"] == "driver died" for a in store.attempts())


def test_ctrl_c_stops_cleanly_and_keeps_pending_runs_pending(tmp_path):
    path = write(tmp_path, STUDY)
    out = tmp_path / "out"
    proc = driver(["run", str(path), "--out", str(out), "--workers", "2"], start_new_session=True)
    wait_for(lambda: done_count(out) >= 2, 120)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "prunebench: interrupted"
    store = Store.open(out)
    counts = store.counts()
    assert counts["running"] == 0 and counts["pending"] > 0 and counts["failed"] == 0
    assert all(a["finished_at"] is not None for a in store.attempts())
    pids = worker_pids(out)
    wait_for(lambda: not any(alive(pid) for pid in pids), 10)
    run_to_end(path, out)
    assert Store.open(out).counts()["done"] == 10

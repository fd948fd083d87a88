"""A run that kills its pool worker (as the OOM killer would) fails alone: every other run in flight
on that pool is re-run alone, on a fresh worker, and completes with the result of a clean study."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from prunebench.study import Store, expand, load_study
from prunebench.study.driver import Scheduler
from prunebench.study.isolation import KILLED_WORKER
from test_study_spec import edited, write


class BreakingPool:
    """Scripts only which futures break, the way a real process pool does: when the culprit is in
    flight, every future in flight at that moment fails with BrokenProcessPool."""

    slots = 2

    def __init__(self, culprit: str, together: tuple[str, ...] = ()) -> None:
        self.culprit, self.pending, self.calls, self.restarts = culprit, [], [], 0
        # Runs that must be in flight at the same time once, however slowly the scheduler submits
        # them (a loaded machine): nothing among them settles before all have been submitted.
        self.together = set(together)
        self.lock = threading.Lock()

    def submit(self, payload):
        fut = Future()
        with self.lock:
            self.calls.append(payload["run_id"])
            self.pending.append((payload["run_id"], fut))
        threading.Timer(0.05, self._settle).start()  # both slots are filled before anything settles
        return fut

    def _settle(self):
        with self.lock:
            waiting = any(r in self.together for r, _ in self.pending) and not self.together <= set(self.calls)
            self.waits = getattr(self, "waits", 0) + waiting
            if waiting and self.waits < 200:  # 10 s at most: a scheduler that never fills both slots fails, not hangs
                threading.Timer(0.05, self._settle).start()
                return
            pending, self.pending = self.pending, []
        broke = any(run_id == self.culprit for run_id, _ in pending)
        for run_id, fut in pending:
            if broke:
                fut.set_exception(BrokenProcessPool("a worker died"))
            else:
                fut.set_result({"status": "done", "result": {"test_acc": 0.5}, "history": []})

    def restart(self):
        self.restarts += 1


def test_an_innocent_run_in_flight_with_the_culprit_completes(tmp_path):
    study = edited(seeds=[0], ratios=[0.25, 0.5], arms=[{"name": "l1"}])
    exp = expand(load_study(write(tmp_path, study)), None)
    store = Store.create(tmp_path / "out")
    store.sync_jobs(exp.jobs)
    runs = [j.run_id for j in exp.jobs if j.kind == "run"]
    culprit, innocent = runs[1], runs[0]
    pool = BreakingPool(culprit, together=(culprit, innocent))
    Scheduler(store, pool, tmp_path / "out", None, progress=False, quiet=True).run()
    rows = {r["run_id"]: r for r in store.rows()}
    assert rows[innocent]["status"] == "done"
    assert rows[culprit]["status"] == "failed" and rows[culprit]["error"] == KILLED_WORKER
    # Both were in flight together once, then each ran alone (on a fresh pool each time).
    assert pool.calls.count(culprit) == 2 and pool.calls.count(innocent) == 2
    assert [a["outcome"] for a in store.attempts(innocent)] == ["worker died", "done"]
    assert [a["outcome"] for a in store.attempts(culprit)] == ["worker died", "failed"]
    assert pool.restarts >= 2


# -- the same with real processes: a real pool, a real SIGKILL of the worker running the culprit --

STUDY = edited(
    data={"name": "synthetic", "input_shape": [32], "num_classes": 4, "num_samples": 1024},
    model={"name": "mlp", "args": {"depth": 3, "width": 64}},
    base={"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
    retrain={"epochs": 40, "lr": 0.01},  # long enough (a few seconds) to be killed mid-run
    arms=[{"name": "l1"}], ratios=[0.25, 0.5], seeds=[0],
)


def holders(lock: Path) -> list[int]:
    """Pids of processes that have ``lock`` open (a worker holds its run's lock while running it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == str(lock) for fd in (proc / "fd").iterdir()):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def status_of(out: Path, run_id: str) -> str | None:
    try:
        store = Store.open(out)
    except Exception:  # the driver is still creating the database
        return None
    try:
        row = store.get(run_id)
        return None if row is None else row["status"]
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_worker_killed_by_signal_fails_only_its_own_run(tmp_path):
    from test_study_kill import driver, results_csv, run_to_end

    path = write(tmp_path, STUDY)
    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    run_to_end(path, clean)
    rows = Store.open(clean).rows(kind="run")
    culprit, innocent = (r["run_id"] for r in sorted(rows, key=lambda r: r["ratio"]))  # dispatch order
    locks = {rid: (faulty / "runs" / f".{rid}.lock").resolve() for rid in (innocent, culprit)}

    proc = driver(["run", str(path), "--out", str(faulty), "--workers", "2"])
    kills, together, killed = 0, False, set()
    end = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < end:
        for pid in holders(locks[culprit]) if locks[culprit].exists() else []:
            if pid in killed:  # killed already but not reaped yet: still listed as holding the lock
                continue
            # The first kill only while the innocent run is in flight too (running in the other
            # worker, or queued in the pool behind the culprit).
            if kills or status_of(faulty, innocent) == "running":
                together = together or not kills
                os.kill(pid, signal.SIGKILL)  # what the OOM killer does
                killed.add(pid)
                kills += 1
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=60)
    assert together and kills == 2, (kills, stdout, stderr)
    assert proc.returncode == 1, stdout + stderr  # a run failed
    store = Store.open(faulty)
    status = {r["run_id"]: (r["status"], r["error"]) for r in store.rows(kind="run")}
    assert status[culprit] == ("failed", KILLED_WORKER)
    assert status[innocent] == ("done", None)
    line = [ln for ln in results_csv(faulty).splitlines() if ln.startswith(innocent)]
    assert line == [ln for ln in results_csv(clean).splitlines() if ln.startswith(innocent)]

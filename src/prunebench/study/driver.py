"""The study driver: validate, sync the store, recover what a dead driver left, schedule, record.

Only this process writes the database. Bases are dispatched before the runs that need them; a run
waits for its base, different bases run side by side. A killed driver loses at most the epochs in
progress: at start-up, runs left ``running`` are re-queued (they resume from their epoch checkpoints),
and a run whose model directory is complete is recorded from its result.json instead of run again.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import sys
import time
import heapq
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

import yaml

from .. import plugins
from ..errors import ConfigError
from .executors import make_executor
from .grid import Expansion, check_grid_size, expand, grid_size
from .isolation import KILLED_WORKER, Suspects
from .job import FINISHED, job_dir
from .progress import StudyProgress
from .provenance import run_provenance
from .outside import check_importable, outside_origins, plugin_changes
from .spec import StudySpec, load_study, parse_study
from .store import Store, StoreError, db_path
from .worker import finished_outcome, remove_work_dir, run_lock
from ..pipeline.regimes import estimated_epochs


def check_target(out: Path, name: str) -> None:
    """Refuse a directory that holds another study (read-only check, before anything is written)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if db_path(out).exists() and not db_path(out).is_file():
        raise ConfigError(f"{db_path(out)}: exists and is not a file (a study database is a file)")
    if db_path(out).is_file():
        store = Store.open(out)
        try:
            found = store.get_meta("name")
        finally:
            store.close()
        if found not in (None, name):
            raise ConfigError(f"{out}: holds study {found!r}, not {name!r} (choose another --out)")


@contextlib.contextmanager
def driver_lock(out: Path) -> Iterator[None]:
    """One driver per study directory: a second one gets a clear error instead of double work."""
    with open(out / ".driver.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            who = fh.read().strip()
            raise ConfigError(f"{out}: another prunebench run is driving this study"
                              + (f" ({who})" if who else "")) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")  # who holds it, for the lock messages
        fh.flush()
        yield


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) stop the driver like Ctrl-C: runs in flight go back to
    pending, the executor (a local Ray cluster too) is shut down."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


StudyInput = Union[str, Path, StudySpec, dict]


def as_study(study: StudyInput) -> tuple[StudySpec, Path | None]:
    """A StudySpec and its file (None for a study built in Python) from a path, a dict or a StudySpec."""
    if isinstance(study, StudySpec):
        return study, None
    if isinstance(study, dict):
        return parse_study(study, "study"), None
    if isinstance(study, (str, Path)):
        return load_study(study), Path(study)
    raise ConfigError(f"a study is a StudySpec, a dict or a path to a study file, got {type(study).__name__}")


#: A grid of at least this many runs says its size before it is validated (a few seconds per 10^5).
ANNOUNCE_RUNS = 1000


def prepare(study: StudyInput, out: str | Path | None, *, in_process: bool = True,
            quiet: bool = False) -> tuple[Expansion, Path]:
    """Everything that can be wrong with the input is found here; nothing is written. A large grid
    prints its size (on stderr) first, unless ``quiet``."""
    spec, study_file = as_study(study)
    size = grid_size(spec)
    check_grid_size(spec, str(study_file or "study"))
    if size >= ANNOUNCE_RUNS and not quiet:
        print(f"study {spec.name!r}: validating {size:,} runs ...", file=sys.stderr, flush=True)
    expansion = expand(spec, study_file)
    check_importable(outside_origins(j.spec for j in expansion.jobs), in_process)
    target = Path(out) if out else Path("runs") / spec.name
    if expansion.base_dir is not None:  # the study directory must not replace or hold the base it reads
        from ..artifacts import check_apart

        check_apart(target, [("base model directory", expansion.base_dir)])
    check_target(target, spec.name)
    return expansion, target


def check_plugins(store: Store, accept_change: bool) -> None:
    """A resumed study must run the plug-in code its stored results came from (or say it accepts not)."""
    changes = plugin_changes(store.get_meta("plugins"), plugins.recorded())
    if not changes:
        return
    if not accept_change:
        raise ConfigError(f"{store.path.parent}: plug-in code changed since this study's results were recorded: "
                          f"{'; '.join(changes)}; use a new --out, or --accept-plugin-change to go on (recorded)")
    log = list(store.get_meta("plugin_changes") or [])
    log.append({"at": time.time(), "changes": changes})
    store.set_meta("plugin_changes", log)


def data_changes(store: Store, data_dir: str | None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The recorded data fingerprints of finished runs whose files differ now (``data/fingerprint.py``):
    {fingerprint digest: what differs}, and the data set of each."""
    from ..data.fingerprint import recheck

    accepted = set(store.get_meta("data_accepted") or [])
    seen: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for row in store.rows():
        if row["status"] not in FINISHED:
            continue
        for fp in (row.get("provenance") or {}).get("data") or ():
            digest = fp.get("digest")
            if digest in seen or digest in accepted:
                continue
            seen[digest] = recheck(fp, data_dir)
            names[digest] = fp.get("dataset", "?")
    return {d: c for d, c in seen.items() if c}, names


def check_data(store: Store, data_dir: str | None, accept_change: bool) -> None:
    """A resumed study must find the data its finished runs read (names, sizes, content samples of
    their files), or say it accepts not: the change is then recorded in the study's meta
    (``data_changes``) and the fingerprints it replaced are not checked again (``data_accepted``)."""
    changed, names = data_changes(store, data_dir)
    if not changed:
        return
    first = next(iter(changed))
    what = f"data set {names[first]!r} changed since this study's results were recorded ({'; '.join(changed[first][:3])})"
    if not accept_change:
        raise ConfigError(f"{store.path.parent}: {what}; use a new --out, or --accept-data-change to go on (recorded)")
    store.set_meta("data_accepted", sorted(set(store.get_meta("data_accepted") or []) | set(changed)))
    log = list(store.get_meta("data_changes") or [])
    log.append({"at": time.time(), "data_dir": data_dir, "changes": {names[d]: c for d, c in changed.items()}})
    store.set_meta("data_changes", log)


def write_meta(store: Store, expansion: Expansion, study_file: Path | None) -> None:
    study = expansion.study
    store.set_meta("name", study.name)
    store.set_meta("description", study.description)
    store.set_meta("reference", study.reference)
    store.set_meta("paper", study.paper)
    store.set_meta("study", study.model_dump(mode="json"))
    store.set_meta("study_file", str(Path(study_file).resolve()) if study_file is not None else None)
    store.set_meta("plugins", plugins.recorded())
    store.set_meta("base_dir", str(expansion.base_dir) if expansion.base_dir else None)
    store.set_meta("driver", run_provenance())
    if store.get_meta("created_at") is None:
        store.set_meta("created_at", time.time())


def recover(store: Store, out: Path) -> list[str]:
    """Repair what a killed driver left: complete model directories are recorded, runs left
    ``running`` go back to pending. Returns the ids recovered from model directories."""
    recovered = []
    for row in store.rows():
        if row["status"] in FINISHED:
            continue
        snaps = row["snapshots"] if row["kind"] == "base" else ()
        run_dir = job_dir(out, row["kind"], row["run_id"])
        outcome = finished_outcome(run_dir, row["run_id"], snaps)
        if outcome is not None:
            store.requeue([row["run_id"]], reason="driver died")
            outcome.update(recovered=True, provenance={"recovered_from_model_dir": True})
            store.finish(row["run_id"], outcome)
            recovered.append(row["run_id"])
            with run_lock(run_dir):  # an orphaned worker may still be finishing its cleanup
                remove_work_dir(run_dir)
        elif row["status"] == "running":
            store.requeue([row["run_id"]], reason="driver died")
    return recovered


def run_study(
    study: StudyInput,
    out: str | Path | None = None,
    *,
    plugins: Iterable[str] = (),
    accept_plugin_change: bool = False,
    accept_data_change: bool = False,
    workers: int | None = None,
    threads: int = 1,
    executor: str = "local",
    address: str | None = None,
    workers_per_gpu: int | None = None,
    progress: bool | None = None,
    quiet: bool = False,
) -> int:
    """Run (or resume) a study: a path to a study file, a dict of its content or a StudySpec. Returns 0
    when every run is done, 1 when some failed or diverged.

    ``plugins``: modules or .py files to load first (besides the study's own ``plugins:``); every
    worker loads them too. ``progress``: True a rich progress bar, False one plain line per finished
    run, None (default) the bar on a terminal and lines otherwise; ``quiet`` prints nothing.
    Placement (study/executors.py): ``auto`` runs on the GPUs of the machine or cluster, else the
    CPU; with ``workers`` > 1 each pool worker has its own GPU, ``workers_per_gpu`` (default 1) of
    them per GPU."""
    from .. import plugins as plugin_loader

    plugin_loader.load_plugins(plugins)
    workers = 1 if workers is None else workers
    expansion, target = prepare(study, out, in_process=executor == "local" and workers == 1, quiet=quiet)
    shipped = plugin_loader.worker_specs(outside_origins(j.spec for j in expansion.jobs))
    if db_path(target).is_file() and not accept_data_change:  # refused before anything is written
        reader = Store.open(target)
        try:
            check_data(reader, expansion.study.data.data_dir, False)
        finally:
            reader.close()
    ex = make_executor(executor, workers=workers, threads=threads, address=address, workers_per_gpu=workers_per_gpu,
                       devices_asked=[j.device for j in expansion.jobs])
    interrupted = True
    try:  # from here on the executor (a local Ray cluster, a pool) is shut down on every way out
        target.mkdir(parents=True, exist_ok=True)
        with driver_lock(target), sigterm_as_interrupt():
            store = Store.create(target)
            try:
                check_plugins(store, accept_plugin_change)
                if accept_data_change:  # without it the read-only check above has refused a change
                    check_data(store, expansion.study.data.data_dir, True)
                write_meta(store, expansion, Path(study) if isinstance(study, (str, Path)) else None)
                (target / "study.yaml").write_text(yaml.safe_dump(expansion.study.model_dump(mode="json"), sort_keys=False))
                store.sync_jobs(expansion.jobs)
                recover(store, target)
                Scheduler(store, ex, target, expansion.base_dir, progress, quiet, shipped).run()
                interrupted = False
                counts = store.counts()
            finally:
                store.close()
    finally:
        ex.shutdown(kill=interrupted)
    return 1 if counts["failed"] or counts["diverged"] or counts["pending"] else 0


class Scheduler:
    """Dispatch pending runs to an executor, respecting base dependencies, recording outcomes."""

    def __init__(self, store: Store, executor: Any, out: Path, base_dir: Path | None, progress: bool | None,
                 quiet: bool = False, plugins: list[dict[str, Any]] | None = None) -> None:
        self.store, self.executor, self.out, self.base_dir = store, executor, out, base_dir
        self.plugins = list(plugins or [])
        self.progress_enabled, self.quiet = progress, quiet
        self.in_flight: dict[Future, tuple[dict[str, Any], int]] = {}
        self.waiting: dict[str, list[dict[str, Any]]] = {}
        self.ready: list[tuple[tuple, dict[str, Any]]] = []  # a heap: see _push
        self.suspects = Suspects()  # runs in flight when a worker died: re-run alone (isolation.py)
        self.fresh_pool = True  # no run dispatched since the executor (re)started

    def run(self) -> None:
        rows = self.store.rows()
        finished = sum(r["status"] in FINISHED for r in rows)
        failed = sum(r["status"] == "diverged" for r in rows)
        self.progress = StudyProgress(len(rows), finished, failed, enabled=self.progress_enabled, quiet=self.quiet)
        try:
            self._queue(rows)
            self._loop()
        except BaseException:
            # Every run still marked running goes back to pending: the ones in flight, and one whose
            # outcome was being recorded when the interrupt came (its transaction rolled back).
            # When the store itself cannot be written (disk full), the next start-up does this.
            with contextlib.suppress(StoreError):
                self.store.requeue([r["run_id"] for r in self.store.rows() if r["status"] == "running"])
            raise
        finally:
            self.progress.close()

    def _queue(self, rows: list[dict[str, Any]]) -> None:
        status = {r["run_id"]: r["status"] for r in rows if r["kind"] == "base"}
        for row in rows:  # bases come first in store order
            if row["status"] in FINISHED:
                continue
            base = row["base_id"]
            if base is None or status.get(base) == "done":
                self._push(row)
            elif status.get(base) == "diverged":
                self._finish(row, {"status": "failed", "error": f"base model {base} diverged"}, None)
            else:
                self.waiting.setdefault(base, []).append(row)

    def _loop(self) -> None:
        while self.ready or self.in_flight or self.suspects:
            self._fill()
            if not self.in_flight:
                continue
            done, _ = wait(list(self.in_flight), timeout=1.0, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                row, attempt = self.in_flight.pop(fut)
                outcome, pool_broke = _outcome_of(fut, row)
                if pool_broke:
                    broken = True
                    self._worker_died(row, attempt)
                else:
                    self._finish(row, outcome, attempt)
            if broken:
                # Every run still in flight ran on the pool that broke: each is a suspect too.
                for row, attempt in self.in_flight.values():
                    self._worker_died(row, attempt)
                self.in_flight.clear()
                self.executor.restart()
                self.fresh_pool = True

    def _fill(self) -> None:
        """Dispatch what may run now: a suspect alone on a fresh worker, else ready runs up to the slots."""
        if self.suspects:
            if not self.in_flight:
                if not self.fresh_pool:
                    self.executor.restart()
                self._dispatch(self.suspects.next_alone())
            return
        while self.ready and len(self.in_flight) < self.executor.slots:
            self._dispatch(heapq.heappop(self.ready)[1])

    def _worker_died(self, row: dict[str, Any], attempt: int) -> None:
        if self.suspects.worker_died(row):
            self._finish(row, {"status": "failed", "error": KILLED_WORKER}, attempt)
        else:
            self.store.requeue([row["run_id"]], reason="worker died")

    def _push(self, row: dict[str, Any]) -> None:
        """Bases first (runs wait for them), then the longest runs first, so that no worker is
        left alone with a long run at the end; ties in study-file order."""
        key = (row["kind"] != "base", -estimated_epochs(row["spec"]), row["position"], row["run_id"])
        heapq.heappush(self.ready, (key, row))

    def _payload(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["base_id"] is not None:
            base_dir = str(job_dir(self.out, "base", row["base_id"]).resolve())
        else:
            base_dir = str(self.base_dir) if self.base_dir else None
        place = getattr(self.executor, "device", None)  # where it runs: "auto" resolved, a worker's GPU
        return {
            "run_id": row["run_id"], "kind": row["kind"], "spec": row["spec"], "device_requested": row["device"],
            "device": place(row["device"]) if place is not None else row["device"],
            "out": str(job_dir(self.out, row["kind"], row["run_id"]).resolve()), "base_dir": base_dir,
            "snapshots": row["snapshots"] if row["kind"] == "base" else [],
            "plugins": self.plugins,
        }

    def _dispatch(self, row: dict[str, Any]) -> None:
        attempt = self.store.start(row["run_id"], os.getpid())
        try:
            fut = self.executor.submit(self._payload(row))
        except BaseException:
            self.store.requeue([row["run_id"]])
            raise
        self.in_flight[fut] = (row, attempt)
        self.fresh_pool = False

    def _finish(self, row: dict[str, Any], outcome: dict[str, Any], attempt: int | None) -> None:
        if outcome.get("halt"):
            # The run could not write its output (disk full, read-only): not the run's fault, so it
            # stays pending and the study stops with that one line; resuming later runs it again.
            self.store.requeue([row["run_id"]], reason="disk error")
            raise ConfigError(f"{self.out}: {outcome['halt']}; the study stopped (resume with `prunebench run` "
                              "once there is space)")
        self.store.finish(row["run_id"], outcome, attempt)
        self.progress.finished_run(row, outcome)
        if row["kind"] != "base":
            return
        for dep in self.waiting.pop(row["run_id"], []):
            if outcome["status"] == "done":
                self._push(dep)
            else:
                self._finish(dep, {"status": "failed", "error": f"base model {row['run_id']} {outcome['status']}"}, None)


def _outcome_of(fut: Future, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The worker's outcome, or a failure when the worker could not report one."""
    try:
        return fut.result(), False
    except BrokenProcessPool:
        return {"status": "failed", "error": "worker process died (killed, or out of memory?)"}, True
    except Exception as err:  # e.g. a Ray task error: the run failed, the study goes on
        first = str(err).splitlines()[0] if str(err) else ""
        return {"status": "failed", "error": f"{type(err).__name__}: {first}"}, False

"""What a worker does with one job: run it (or find it already finished) and return a plain dict.

Workers never touch the study database. A job's model directory is written atomically by the
training code; a per-run lock file makes sure that two processes never work on the same run (an
orphan left by a killed driver finishes first, and its complete model directory is then picked up
instead of running the job again).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

from ..artifacts import read_history
from ..errors import disk_error
from .provenance import run_provenance


#: This process's pool slot (None outside a pool worker).
SLOT: int | None = None


def init_worker(threads: int, free_slots: Any = None, slot_gpus: Any = ()) -> None:
    """Initializer of a pool worker: take a slot (and the GPU of that slot: the only one this
    process will see, set before anything touches CUDA); T torch threads; Ctrl-C is the driver's
    business; die with the driver (Linux), so a killed driver leaves no orphan training on."""
    global SLOT
    if free_slots is not None:
        SLOT = int(free_slots.get(timeout=60))
        if slot_gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(slot_gpus[SLOT])
            from ..devices import set_cublas_workspace

            set_cublas_workspace()
    import torch

    torch.set_num_threads(max(1, int(threads)))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    # Import the heavy modules now, so that a worker's first run is timed like every other one.
    from .. import data, models, pipeline  # noqa: F401


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the per-run lock still prevents double work
        pass


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on ``.RUNID.lock`` beside the run's model directory (blocks until free)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_work_dir(out: Path) -> None:
    """Remove what is left of a finished run's work directory: a worker killed (with its driver)
    between renaming the finished model directory into place and removing ``.RUNID.partial``."""
    from ..train.run import partial_dir

    shutil.rmtree(partial_dir(out), ignore_errors=True)


def finished_outcome(out: Path, run_id: str, snapshots: Any = ()) -> dict[str, Any] | None:
    """The outcome recorded in a complete model directory of ``run_id`` (for a base run: one that
    kept every weight snapshot in ``snapshots``), or None."""
    import json

    result_file = out / "result.json"
    if not result_file.is_file():
        return None
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):  # a torn directory cannot exist (atomic rename), but be safe
        return None
    # a run whose pruning stage diverged has no weights (pipeline/run.py): its outcome stands
    if not (out / "weights.safetensors").is_file() and not (isinstance(result, dict) and result.get("diverged_in") == "stage"):
        return None
    if result.get("run_id") not in (None, run_id):
        return None
    if not set(snapshots) <= set(result.get("snapshot_epochs") or ()):
        return None
    try:
        return _outcome(run_id, result, out)
    except Exception:  # an unreadable history: run it again rather than trust the directory
        return None


def _outcome(run_id: str, result: dict[str, Any], out: Path) -> dict[str, Any]:
    """A finished run's outcome, from its result.json content and its directory's history."""
    diverged = bool(result.get("diverged"))
    return {
        "run_id": run_id,
        "status": "diverged" if diverged else "done",
        "error": result.get("message") if diverged else None,
        "result": result,
        "history": read_history(out / "history.jsonl"),
    }


def _execute_kind(job: dict[str, Any], out: Path) -> dict[str, Any]:
    from ..plugins import load_worker_specs

    load_worker_specs(job.get("plugins") or ())  # the driver's plug-ins, before any spec is validated
    if job["kind"] == "base":
        from ..config import TrainRunSpec
        from ..pipeline import train_base

        spec = TrainRunSpec.model_validate(job["spec"])
        _check_id(spec, job)
        return train_base(spec, out, set(job.get("snapshots") or ()), progress=False, device=job.get("device"))
    from ..pipeline import PipelineSpec, run_pipeline

    spec = PipelineSpec.model_validate(job["spec"])
    _check_id(spec, job)
    return run_pipeline(spec, out, base_dir=Path(job["base_dir"]), progress=False, device=job.get("device"))


def _check_id(spec: Any, job: dict[str, Any]) -> None:
    if spec.spec_hash() != job["run_id"]:  # the stored spec no longer hashes to its id: refuse, loudly
        raise RuntimeError(f"spec of run {job['run_id']} now hashes to {spec.spec_hash()} (prunebench changed?)")


def execute(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; never raises for a failing run (the failure is the outcome).

    ``job["device"]`` is where it runs (the executor's placement: ``cuda`` is this worker's GPU),
    ``job["device_requested"]`` what its spec says; both go into its provenance."""
    import torch

    from ..devices import free_cuda_cache

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    out = Path(job["out"])
    start = time.perf_counter()
    from ..data import fingerprint

    try:
        with run_lock(out), fingerprint.collect() as data_read:
            outcome = finished_outcome(out, job["run_id"], job.get("snapshots") or ())
            if outcome is not None:
                outcome["recovered"] = True
                remove_work_dir(out)
            else:
                outcome = _run(job, out)
    finally:
        free_cuda_cache()  # the next job on this worker starts with the GPU's memory free
    outcome["wall_s"] = round(time.perf_counter() - start, 3)
    outcome["provenance"] = run_provenance(job.get("device_requested", job.get("device")), job.get("device"))
    result = outcome.get("result")
    if isinstance(result, dict) and "precision" in result:
        outcome["provenance"]["precision"] = result["precision"]  # the flags its training ran with
    if SLOT is not None:
        outcome["provenance"]["pool_slot"] = SLOT
    if data_read:  # the data this run loaded (files, sizes, content hashes): checked on resume
        outcome["provenance"]["data"] = data_read
    return outcome


def _run(job: dict[str, Any], out: Path) -> dict[str, Any]:
    try:
        result = _execute_kind(job, out)
    except Exception as err:  # any error of one run is recorded; the study goes on
        disk = disk_error(err)
        if disk is not None:  # the disk, not the run: the driver stops the study, the run stays pending
            return {"run_id": job["run_id"], "status": "failed", "halt": disk, "error": disk}
        first = str(err).splitlines()[0] if str(err) else ""
        return {"run_id": job["run_id"], "status": "failed", "error": f"{type(err).__name__}: {first}".rstrip(": "),
                "detail": traceback.format_exc(limit=20)}
    return {**_outcome(job["run_id"], result, out), "pid": os.getpid()}

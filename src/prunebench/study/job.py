"""One unit of work of a study: a base (dense pretraining) run or a pipeline run."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Statuses of a stored run. ``done`` and ``diverged`` are finished outcomes (a re-run skips them);
#: ``failed`` is retried by the next ``prunebench run``.
STATUSES = ("pending", "running", "done", "failed", "diverged")
FINISHED = ("done", "diverged")


@dataclass(frozen=True)
class Job:
    run_id: str
    kind: str  # "base" | "run"
    spec: dict[str, Any]  # the full spec, every default written out
    seed: int
    arm: str | None = None
    ratio: float | None = None
    base_id: str | None = None  # the base run this one waits for (None: no base run in the study)
    base_path: str | None = None  # an external base model directory given by the study file
    snapshots: tuple[int, ...] = ()  # base runs: epochs whose weights must be kept
    device: str = "cpu"
    position: int = 0  # order in the study file's expansion
    meta: dict[str, Any] = field(default_factory=dict)  # regime, criterion, reinit, lr_schedule (for rows)


def job_dir(study_dir: Path, kind: str, run_id: str) -> Path:
    """Where a job's model directory lives inside the study directory."""
    return Path(study_dir) / ("bases" if kind == "base" else "runs") / run_id

"""Studies: YAML grids of arms x ratios x seeds, a SQLite results store, resumable parallel execution
(in-process, a process pool, or Ray), and the rows the report and the fairness audit read."""
from .driver import run_study
from .grid import Expansion, expand
from .job import FINISHED, STATUSES, Job
from .rows import audit_study, fairness_rows, status_summary, study_meta, study_rows
from .spec import ArmSpec, StudySpec, load_study
from .store import Store

__all__ = [
    "FINISHED", "STATUSES", "ArmSpec", "Expansion", "Job", "Store", "StudySpec", "audit_study",
    "expand", "fairness_rows", "load_study", "run_study", "status_summary", "study_meta", "study_rows",
]

"""Calibrating the literature (Wang et al. 2023, §4 rec. 4): a shipped, cited dataset of published
results, importers for other collections (ShrinkBench's results grid, any CSV with a column map), and
the literature audit -- which setup each published comparison meets, and the calibration flags that
say why a published claim should not be taken at face value."""
from __future__ import annotations

from .catalog import DATASETS, dataset, load_dataset, load_table
from .compare import audit_table
from .flags import PAIR_RULES, ROW_RULES
from .importers import import_mapped, import_shrinkbench

__all__ = [
    "DATASETS",
    "PAIR_RULES",
    "ROW_RULES",
    "audit_table",
    "dataset",
    "import_mapped",
    "import_shrinkbench",
    "load_dataset",
    "load_table",
]

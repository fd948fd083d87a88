"""Fairness of comparisons: comparison setups S1 ... S4.2, SX-A, SX-B (Wang et al. 2023, §3), audits
of result rows, and cross-validation of retraining recipes (§4, rec. 3)."""
from __future__ import annotations

from .audit import DEFAULT_TARGET, audit_rows, summary_line
from .columns import COLUMNS, schedules_equal
from .crossval import cross_validate_recipes, judge_cross_validation
from .rows_csv import read_rows_csv
from .setups import CHAIN, SETUP_NAMES, SETUPS, compare_rows, required_columns, table4_label

__all__ = [
    "CHAIN",
    "COLUMNS",
    "DEFAULT_TARGET",
    "SETUPS",
    "SETUP_NAMES",
    "audit_rows",
    "compare_rows",
    "cross_validate_recipes",
    "judge_cross_validation",
    "read_rows_csv",
    "required_columns",
    "schedules_equal",
    "summary_line",
    "table4_label",
]

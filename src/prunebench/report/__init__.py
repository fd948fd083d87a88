"""Study reports: aggregation (mean ± std, n, Welch's t-test), tables (Markdown, HTML, LaTeX, CSV from one
model), figures, the fairness section, and :func:`write_report`, which writes them all."""
from __future__ import annotations

from .aggregate import Aggregate, GroupStats, ReportError, Stat, Welch, aggregate, welch_test
from .tables import Cell, Row, Table, accuracy_table, detail_table, to_csv, to_html, to_latex, to_markdown
from .writer import read_results_csv, results_csv, write_report

__all__ = [
    "Aggregate", "GroupStats", "ReportError", "Stat", "Welch", "aggregate", "welch_test",
    "Cell", "Row", "Table", "accuracy_table", "detail_table", "to_csv", "to_html", "to_latex", "to_markdown",
    "read_results_csv", "results_csv", "write_report",
]

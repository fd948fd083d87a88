"""``prunebench audit``: which comparison setup each comparison in a set of result rows meets."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..fairness import DEFAULT_TARGET, SETUP_NAMES, audit_rows, read_rows_csv, summary_line
from ..errors import ConfigError
from ..fairness.columns import check_tolerance


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="which comparison setup (S1 ... S4.2, SO, SX-A, SX-B) each comparison meets",
        description="Compare every result row with a reference row and name the comparison setup "
        "each pair meets (Wang et al. 2023), the label the paper's Table 4 would give it (SO = same "
        "overall schedule: Table 4's 'S4.2') and the columns that differ.",
    )
    parser.add_argument("study_dir", nargs="?", metavar="DIR", help="a study directory (each arm vs the reference arm)")
    parser.add_argument("--rows", metavar="FILE.csv", help="rows CSV (header row, any subset of the columns)")
    parser.add_argument("--reference", metavar="NAME",
                        help="the reference: a row name with --rows (default: the first row), an arm with DIR "
                             "(default: the study's reference arm)")
    parser.add_argument("--compare", metavar="within=F|by=F",
                        help="DIR only: grouped comparisons (within=retrain.lr, by=criterion, none); "
                             "default: the study's own")
    # Values are parsed by the handler, so that a bad one is a PrunebenchError like every other input.
    parser.add_argument("--tolerance", default="0.02", metavar="REL", help="relative tolerance for numbers (default 0.02)")
    parser.add_argument("--target", default=DEFAULT_TARGET, metavar="SETUP",
                        help=f"setup the summary checks against (default {DEFAULT_TARGET}; one of {', '.join(SETUP_NAMES)})")
    parser.add_argument("--json", action="store_true", help="print the audit as JSON")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a comparison falls short of --target (scratch-style ones: of SX-A / SX-B)")
    parser.set_defaults(func=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    tolerance = check_tolerance(args.tolerance)
    if (args.study_dir is None) == (args.rows is None):
        raise ConfigError("audit needs a study directory DIR or --rows FILE.csv (exactly one)")
    if args.study_dir is not None:
        from ..study.rows import audit_study
        from ..study.store import db_path

        if not db_path(args.study_dir).is_file():
            raise ConfigError(f"{args.study_dir}: not a study directory (no study.sqlite)")
        result = audit_study(args.study_dir, tolerance=tolerance, target=args.target, reference=args.reference,
                             compare=args.compare)
    else:
        if args.compare:
            raise ConfigError("--compare is for a study directory DIR, not for --rows")
        rows = read_rows_csv(args.rows)
        result = audit_rows(rows, reference=args.reference, tolerance=tolerance, target=args.target)
    headline = None
    if args.study_dir is not None:
        from ..report.headline import study_headline

        headline = result["summary"]["headline"] = study_headline(result)
    if args.json:
        from ..artifacts import dumps

        print(dumps(result, indent=2))
    else:
        _print_table(result, headline)
    return 1 if args.strict and _short(result, args.target) else 0


def _short(result: dict[str, Any], target: str) -> list[dict[str, Any]]:
    from ..report.headline import strict_failures

    return strict_failures(result, target)


def _print_table(result: dict[str, Any], headline: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    summary = result["summary"]
    grouped = bool(summary.get("references"))
    versus = ("each arm's group reference (" + ", ".join(map(repr, summary["references"])) + ")" if grouped
              else repr(summary["reference"]))
    table = Table(title=Text(f"comparison setups vs {versus} (tolerance {summary['tolerance']:g})"))
    for header in (("reference",) if grouped else ()) + ("row", "strictest", "Table 4", "holds", "unknown", "differs"):
        table.add_column(header)
    for pair in result["pairs"]:
        cells = (pair["b"], pair["strictest"] or "none", pair.get("table4") or "-", " ".join(pair["holds"]) or "-",
                 " ".join(pair["unknown"]) or "-", ", ".join(pair["differs"]) or "-")
        cells = ((str(pair["a"]),) if grouped else ()) + cells
        table.add_row(*(Text(cell) for cell in cells))  # Text: row names are not rich markup
    # In a pipe, rich would wrap at 80 columns and fold the table's cells: there it lays out at full width.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 100_000)
    if result["pairs"]:  # an empty table says nothing the headline does not
        console.print(table)
    console.print(Text(headline or summary_line(summary)), soft_wrap=True)

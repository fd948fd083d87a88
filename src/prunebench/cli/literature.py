"""``prunebench literature``: the shipped dataset of published results, importers, and the
literature audit (docs/literature.md)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "literature", help="published results: list the shipped tables, import others, audit them",
        description="Calibrate published pruning results (Wang et al. 2023, §4): which comparison setup each "
        "published comparison meets, and the calibration flags.")
    sub = parser.add_subparsers(dest="literature_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    lst = sub.add_parser("list", help="the shipped tables, one per line with their source")
    lst.set_defaults(func=run_list)

    imp = sub.add_parser("import", help="convert a published table into the rows format")
    imp.add_argument("format", choices=("shrinkbench", "csv"),
                     help="shrinkbench: ShrinkBench's 'Results-Grid view.csv'; csv: any CSV with --map")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--out", required=True, metavar="OUT.csv", help="rows CSV to write (replaced atomically)")
    imp.add_argument("--map", action="append", default=[], metavar="COLUMN=OURS",
                     help="csv only: input column COLUMN becomes our column OURS (repeat)")
    imp.add_argument("--source", metavar="TEXT", help="csv only: the source (paper + table) of rows without one")
    imp.set_defaults(func=run_import)

    aud = sub.add_parser("audit", help="setups and calibration flags of published comparisons")
    aud.add_argument("tables", nargs="*", metavar="NAME|FILE", help="shipped table names or rows CSV files (default: all shipped)")
    aud.add_argument("--reference", metavar="ROW", help="compare every row with this row (one table only)")
    aud.add_argument("--out", metavar="DIR", help="write the report (report.md, report.html, CSVs, figures) here")
    aud.add_argument("--tolerance", default="0.02", metavar="REL", help="relative tolerance for numbers (default 0.02)")
    aud.add_argument("--target", default="S3.2", metavar="SETUP", help="setup the summary counts (default S3.2)")
    aud.add_argument("--json", action="store_true", help="print the audit as JSON")
    aud.set_defaults(func=run_audit)


def run_list(args: argparse.Namespace) -> int:
    from ..literature import DATASETS

    for d in DATASETS:
        print(f"{d.name}\t{d.source}: {d.title}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from ..literature.importers import import_mapped, import_shrinkbench, parse_map, rows_csv_text, write_text_atomic

    if args.format == "shrinkbench":
        if args.map or args.source:
            raise ConfigError("--map and --source are for 'import csv'; ShrinkBench's columns are known")
        result = import_shrinkbench(args.file)
    else:
        result = import_mapped(args.file, parse_map(args.map), args.source)
    if not result.rows:
        raise ConfigError(f"{args.file}: no row could be imported ({len(result.skipped)} skipped); nothing written")
    write_text_atomic(args.out, rows_csv_text(result.rows))
    for line in result.report_lines():
        print(line)
    print(f"wrote {args.out}")
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from ..fairness.columns import check_tolerance
    from ..literature import DATASETS, audit_table, load_table
    from ..literature.report import write_literature_report

    tolerance = check_tolerance(args.tolerance)
    specs = args.tables or [d.name for d in DATASETS]
    if args.reference and len(specs) != 1:
        raise ConfigError("--reference names a row of one table; give exactly one NAME or FILE")
    loaded = [load_table(s) for s in specs]  # every table read and checked before anything is written
    names = [n for n, _ in loaded]
    if len(set(names)) != len(names):
        raise ConfigError(f"two tables share a name: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    audits = [audit_table(n, rows, args.reference, tolerance=tolerance, target=args.target) for n, rows in loaded]
    if args.out:
        meta = {d.name: {"title": d.title, "source": d.source} for d in DATASETS}
        html = write_literature_report(args.out, audits, dict(loaded), meta)
    if args.json:
        from ..artifacts import dumps

        print(dumps(audits, indent=2))
    else:
        for a in audits:
            _print_audit(a)
    if args.out:
        print(f"report: {html}")
    return 0


def _print_audit(audit: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{audit['table']}: {audit['mode']}"))
    for header in ("row", "vs", "strictest", "unknown", "flags"):
        table.add_column(header)
    for c in audit["comparisons"]:
        cells = (c["b"], c["a"], c["strictest"] or "none", " ".join(c["unknown"]) or "-",
                 ", ".join(f["rule"] for f in c["flags"]) or "-")
        table.add_row(*(Text(x) for x in cells))
    console = Console(highlight=False)
    console.print(table)
    flagged = [r for r in audit["rows"] if r["flags"]]
    for r in flagged:
        console.print(Text(f"  {r['name']}: " + "; ".join(f"{f['rule']}: {f['message']}" for f in r["flags"])))
    console.print(Text(audit["summary"]["line"]))

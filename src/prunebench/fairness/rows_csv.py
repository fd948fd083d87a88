"""Reading result rows from a CSV file (header row, then one row per result).

The header may hold any subset of :data:`~prunebench.fairness.columns.COLUMNS`, in any order; an
unknown column is an error that names it. Empty cells are missing values (the key is left out of the
row). Numbers are parsed; a bad one is an error naming its line and column.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..errors import DataError
from .columns import COLUMNS, parse_cell


def read_rows_csv(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a rows CSV as typed dicts (missing cells left out)."""
    path = Path(path)
    return parse_rows_text(_read_text(path), str(path))


def parse_rows_text(text: str, path: str) -> list[dict[str, Any]]:
    """The rows of a rows CSV's text; ``path`` names it in errors (a file, or a shipped dataset)."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _header(reader, path)
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines carry no row
            where = f"{path}, line {reader.line_num}"
            if len(cells) != len(header):
                raise DataError(f"{where}: {len(cells)} cells, but the header has {len(header)} columns")
            row = {col: parse_cell(col, cell, where) for col, cell in zip(header, cells)}
            rows.append({col: value for col, value in row.items() if value is not None})
    except csv.Error as err:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({err})") from None
    return rows


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"rows file not found: {path}")
    if not path.is_file():
        raise DataError(f"rows file is not a regular file: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except UnicodeDecodeError as err:
        raise DataError(f"rows file {path} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise DataError(f"cannot read rows file {path}: {err.strerror}") from None


def _header(reader: Any, path: str) -> list[str]:
    for cells in reader:
        if any(cell.strip() for cell in cells):
            break
    else:
        raise DataError(f"rows file {path} is empty; expected a header row")
    header = [cell.strip() for cell in cells]
    if "" in header:
        raise DataError(f"{path}, line {reader.line_num}: header column {header.index('') + 1} has no name")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise DataError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; valid: {', '.join(COLUMNS)}"
        )
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, duplicates))} appear more than once")
    return header

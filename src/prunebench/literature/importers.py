"""Bringing published tables in: ShrinkBench's results grid and any CSV with a column map, both
converted to the rows format (docs/fairness.md) and written atomically.

Every input row is either imported or counted as skipped with a reason; input columns the importer
does not use are reported, never dropped silently. A cell that cannot be read is an error naming its
line and column, and nothing is written.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..fairness.columns import COLUMNS, parse_cell
from ..fairness.rows_csv import _read_text

#: ShrinkBench's ``Results-Grid view.csv`` (Blalock et al. 2020, 81 papers), column by column.
SHRINKBENCH_COLUMNS = (
    "Name", "Paper", "Dataset", "Model", "Method", "Notes", "NumTrials", "Err1", "Err5", "Top1", "stdTop1",
    "dTop1", "Top5", "dTop5", "MParams", "savedParams", "keptParams", "GFLOPS", "savedFLOPS", "keptFLOPS",
    "OrigTop1", "stdOrigTop1", "OrigTop5", "OrigMParams", "OrigGFLOPS", "old/new Nparam", "old/new FLOPS",
    "OrigErr1", "OrigErr5",
)
#: Columns it carries that our rows format has no place for (top-5, the base model's spread).
SHRINKBENCH_UNUSED = ("Err5", "Top5", "dTop5", "stdOrigTop1", "OrigTop5", "OrigErr5")
SHRINKBENCH_SOURCE = "ShrinkBench results grid (Blalock et al. 2020)"

#: Dataset spellings -> our names (after lower-casing and dropping spaces, '-' and '_').
DATASET_ALIASES = {"imagenet": "imagenet", "imagenet1k": "imagenet", "ilsvrc2012": "imagenet", "ilsvrc": "imagenet",
                   "cifar10": "cifar10", "cifar100": "cifar100", "mnist": "mnist", "svhn": "svhn",
                   "imagenet100": "imagenet100", "fashionmnist": "fashion-mnist"}


@dataclass
class ImportResult:
    rows: list[dict[str, Any]]
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, name, reason)
    ignored_columns: list[str] = field(default_factory=list)
    n_input: int = 0

    def report_lines(self) -> list[str]:
        lines = [f"imported {len(self.rows)} of {self.n_input} rows; skipped {len(self.skipped)}"]
        lines += [f"  skipped line {line} ({name}): {why}" for line, name, why in self.skipped]
        if self.ignored_columns:
            lines.append("ignored input columns (no place in the rows format): " + ", ".join(self.ignored_columns))
        return lines


def normalise_name(text: str) -> str:
    """``ResNet-50`` -> ``resnet50``, ``CIFAR-10`` -> ``cifar10``, ``VGG 16`` -> ``vgg16``."""
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


def normalise_dataset(text: str) -> str:
    key = normalise_name(text)
    return DATASET_ALIASES.get(key, key)


class _Cells:
    """Reading one input line's cells, with errors that name the line and the input column."""

    def __init__(self, path: str, line: int, record: dict[str, str]):
        self.path, self.line, self.record = path, line, record

    def error(self, column: str, message: str) -> DataError:
        return DataError(f"{self.path}, line {self.line}, column {column!r}: {message}")

    def text(self, column: str) -> str | None:
        value = (self.record.get(column) or "").strip()
        return value or None

    def number(self, column: str) -> float | None:
        """A plain number or a percentage written as text ("93.55%" -> 93.55)."""
        value = self.text(column)
        if value is None:
            return None
        try:
            return float(value.rstrip("%").strip().replace("\u2212", "-"))
        except ValueError:
            raise self.error(column, f"bad number {value!r}") from None

    def fraction(self, column: str) -> float | None:
        """A share in [0, 1]: "45%" -> 0.45, "0.45" -> 0.45 (a bare number above 1 is read as percent)."""
        value, raw = self.number(column), self.text(column)
        if value is None:
            return None
        if raw.endswith("%") or value > 1:
            value /= 100
        if not 0 <= value <= 1:
            raise self.error(column, f"expected a share between 0 and 100%, got {raw!r}")
        return value

    def ratio(self, column: str) -> float | None:
        value = self.number(column)
        if value is not None and value <= 0:
            raise self.error(column, f"expected a positive ratio, got {self.text(column)!r}")
        return value


def _csv_records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    text = _read_text(path).lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
        if header is None:
            raise DataError(f"{path} is empty; expected a header row")
        header = [c.strip() for c in header]
        records = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DataError(f"{path}, line {reader.line_num}: {len(cells)} cells, but the header has {len(header)} columns")
            records.append((reader.line_num, dict(zip(header, cells))))
    except csv.Error as err:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({err})") from None
    return header, records


# ---------------------------------------------------------------- ShrinkBench
def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _sb_top1(c: _Cells) -> float | None:
    err, orig, delta = c.number("Err1"), c.number("OrigTop1"), c.number("dTop1")
    return _first(c.number("Top1"), None if err is None else 100 - err,
                  None if orig is None or delta is None else orig + delta)


def _sb_speedup(c: _Cells) -> float | None:
    kept, saved, ratio = c.fraction("keptFLOPS"), c.fraction("savedFLOPS"), c.ratio("old/new FLOPS")
    g, orig = c.ratio("GFLOPS"), c.ratio("OrigGFLOPS")
    return _first(None if not kept else 1 / kept, None if saved is None or saved >= 1 else 1 / (1 - saved), ratio,
                  None if g is None or orig is None else orig / g)


def _sb_sparsity(c: _Cells) -> float | None:
    kept, saved, ratio = c.fraction("keptParams"), c.fraction("savedParams"), c.ratio("old/new Nparam")
    m, orig = c.ratio("MParams"), c.ratio("OrigMParams")
    share = _first(None if kept is None else 1 - kept, saved, None if ratio is None else 1 - 1 / ratio,
                   None if m is None or orig is None else 1 - m / orig)
    return None if share is None else 100 * share


def _sb_row(c: _Cells) -> tuple[dict[str, Any] | None, str]:
    top1, speedup, sparsity = _sb_top1(c), _sb_speedup(c), _sb_sparsity(c)
    orig_err = c.number("OrigErr1")
    mparams = c.number("MParams")
    row = {
        "name": _sb_name(c),
        "source": f"{SHRINKBENCH_SOURCE}: {c.text('Paper') or 'paper not named'}",
        "dataset": normalise_dataset(c.text("Dataset") or "") or None,
        "model": normalise_name(c.text("Model") or "") or None,
        "top1": top1, "std": c.number("stdTop1"),
        "n_trials": c.number("NumTrials"),
        "base_acc": _first(c.number("OrigTop1"), None if orig_err is None else 100 - orig_err),
        "speedup": speedup, "sparsity": sparsity,
        "params": None if mparams is None else mparams * 1e6,
        "note": "; ".join(filter(None, (c.text("Method") and f"method: {c.text('Method')}", c.text("Notes")))) or None,
    }
    if top1 is None:
        only_delta = c.text("dTop1") is not None
        return None, ("no accuracy: only its change (dTop1), without the base accuracy (OrigTop1)" if only_delta
                      else "no accuracy (Top1, Err1 and OrigTop1 + dTop1 all empty)")
    if speedup is None and sparsity is None:
        return None, "no compression figure (no FLOPS and no parameter counts)"
    if sparsity is not None and sparsity < 0:
        return None, "more parameters than the original model (a negative sparsity)"
    return row, ""


def _sb_name(c: _Cells) -> str:
    """The grid's ``Name`` is a record number: prefix the paper key so that a row says where it is from."""
    name, paper = c.text("Name"), c.text("Paper")
    if name and paper and name.isdigit():
        return f"{paper} #{name}"
    return name or " ".join(filter(None, (c.text("Method"), paper))) or f"line {c.line}"


def import_shrinkbench(path: str | Path) -> ImportResult:
    """ShrinkBench's ``Results-Grid view.csv`` in the rows format."""
    path = Path(path)
    header, records = _csv_records(path)
    missing = [c for c in SHRINKBENCH_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: not ShrinkBench's results grid; missing column(s) {', '.join(map(repr, missing))}")
    extra = [c for c in header if c not in SHRINKBENCH_COLUMNS]
    result = ImportResult(rows=[], ignored_columns=[*SHRINKBENCH_UNUSED, *extra], n_input=len(records))
    for line, record in records:
        cells = _Cells(str(path), line, record)
        row, why = _sb_row(cells)
        if row is None:
            result.skipped.append((line, cells.text("Name") or cells.text("Paper") or "unnamed", why))
            continue
        result.rows.append(_typed(row, f"{path}, line {line}"))
    _unique_names(result.rows)
    return result


# ---------------------------------------------------------------- any CSV, with a column map
def parse_map(items: list[str]) -> dict[str, str]:
    """``["Top-1=top1", "Net=model"]`` -> ``{"Top-1": "top1", "Net": "model"}`` (checked)."""
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, ours = item.rpartition("=")
        source, ours = source.strip(), ours.strip()
        if not sep or not source or not ours:
            raise DataError(f"--map expects COLUMN=OURS, got {item!r}")
        if ours not in COLUMNS:
            raise DataError(f"--map {item!r}: {ours!r} is not a rows column; valid: {', '.join(COLUMNS)}")
        if source in mapping:
            raise DataError(f"--map: input column {source!r} mapped twice")
        mapping[source] = ours
    targets = list(mapping.values())
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise DataError(f"--map: more than one input column mapped to {', '.join(map(repr, repeated))}")
    if not mapping:
        raise DataError("--map needs at least one COLUMN=OURS")
    return mapping


_NUMERIC_KINDS = ("real", "percent", "count", "trials")


def import_mapped(path: str | Path, mapping: dict[str, str], source: str | None = None) -> ImportResult:
    """Any CSV: each mapped input column becomes our column (percent signs dropped from numbers)."""
    path = Path(path)
    header, records = _csv_records(path)
    absent = [c for c in mapping if c not in header]
    if absent:
        raise DataError(f"{path}: mapped column(s) {', '.join(map(repr, absent))} not in the header")
    if "source" not in mapping.values() and not source:
        raise DataError("every row needs a source: map a column to 'source' or give --source TEXT")
    result = ImportResult(rows=[], ignored_columns=[c for c in header if c not in mapping], n_input=len(records))
    for line, record in records:
        row: dict[str, Any] = {}
        for column, ours in mapping.items():
            value = record[column].strip()
            if COLUMNS[ours] in _NUMERIC_KINDS:
                value = value.rstrip("%").strip()
            row[ours] = value
        if not str(row.get("source") or "").strip():
            if not source:
                raise DataError(f"{path}, line {line}, column {_column_for(mapping, 'source')!r}: empty source")
            row["source"] = source
        if not str(row.get("name") or "").strip():
            row["name"] = f"line {line}"
        result.rows.append(_typed(row, f"{path}, line {line}", {v: k for k, v in mapping.items()}))
    _unique_names(result.rows)
    return result


def _column_for(mapping: dict[str, str], ours: str) -> str:
    return next((k for k, v in mapping.items() if v == ours), ours)


def _typed(row: dict[str, Any], where: str, input_names: dict[str, str] | None = None) -> dict[str, Any]:
    out = {}
    for column, value in row.items():
        label = where if not input_names or column not in input_names else f"{where} (input column {input_names[column]!r})"
        typed = parse_cell(column, value, label)
        if typed is not None:
            out[column] = typed
    return out


def _unique_names(rows: list[dict[str, Any]]) -> None:
    """Repeated names get ``[2]``, ``[3]``, ... so that every comparison names its rows."""
    seen: dict[str, int] = {}
    for row in rows:
        name = row["name"]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            row["name"] = f"{name} [{seen[name]}]"


# ---------------------------------------------------------------- writing
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def rows_csv_text(rows: list[dict[str, Any]]) -> str:
    """A rows CSV holding the columns any row uses, in the format's column order."""
    used = [c for c in COLUMNS if any(r.get(c) is not None for r in rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(used)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in used])
    return buf.getvalue()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling renamed into place."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise DataError(f"cannot write {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


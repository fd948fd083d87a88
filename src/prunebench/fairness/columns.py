"""The columns of a result row and how two values of each are compared.

A row is a plain dict holding any subset of :data:`COLUMNS` (the same columns as the rows CSV).
Each column has a *kind* that fixes how a cell is parsed and when two values count as equal:

======== ===================================================== =========================================
kind     columns                                               equal when
======== ===================================================== =========================================
label    name                                                  never compared (it names the row)
text     dataset, model                                        same name up to case and punctuation
                                                               (``CIFAR-10`` = ``cifar10``); model
                                                               arguments (``{...}``) exactly
id       base                                                  identical strings (e.g. a weights hash)
count    retrain_epochs, prune_epochs, batch_size,            identical integers
         total_epochs, pruning_epoch
real     macs, weight_decay, momentum, total_compute           within a relative tolerance
schedule retrain_lr, prune_lr, overall_lr                      the parsed LR schedules match
percent  sparsity                                              within a relative tolerance (0 ... 100)
======== ===================================================== =========================================

Published results carry more than the setups compare. These columns (:data:`INFO`) are read and
checked but never compared: ``source``, ``note``, ``group``, ``compare_to``, ``paper_setup``,
``retrain_lr_note`` (text); ``top1``, ``std``, ``base_acc`` (percent); ``n_trials`` (a count >= 1);
``params`` (a number); ``selection`` (``final``, ``best-test`` or ``validation``); ``base_epochs`` and
``base_lr`` (the base model's own training, for the under-training rule of :mod:`prunebench.literature`).
``speedup`` and ``sparsity`` *are* compared: they stand in for ``macs`` in S1's "same compression
rate" when a row gives no MACs (:data:`prunebench.fairness.setups.RATE_COLUMNS`).

Schedules may be written as the authors write them, in braces with spaces:
``{0:0.01, 30:0.001, 60:1e-4}`` reads as ``0:1e-2,30:1e-3,60:1e-4`` (the canonical form is kept).

Counts are exact on purpose: 120 and 122 retraining epochs are different retraining budgets, and the
paper's setups are about exactly such differences (SX-A's total epochs included). Tolerance is for
measured or derived quantities (MACs counted on slightly different graphs, compute sums).

What each column of a prunebench run holds: ``pipeline/fairness_record.py``. ``pruning_epoch`` (the
dense epoch at which the sparsifying action happened) is recorded and shown; no setup compares it
on its own: ``base`` already names the snapshot that was pruned.

Missing cells (absent, ``None``, empty or blank string, NaN) become ``None``: never a guess.
"""
from __future__ import annotations

import math
from typing import Any

from .. import schedule as _schedule
from ..errors import ConfigError, PrunebenchError

#: Column name -> kind, in the order the rows CSV and every report list them.
COLUMNS: dict[str, str] = {
    "name": "label",
    "dataset": "text",
    "model": "text",
    "macs": "real",
    "base": "id",
    "retrain_epochs": "count",
    "retrain_lr": "schedule",
    "batch_size": "count",
    "weight_decay": "real",
    "momentum": "real",
    "prune_epochs": "count",
    "prune_lr": "schedule",
    "total_epochs": "count",
    "total_compute": "real",
    "pruning_epoch": "count",
    "overall_lr": "schedule",
    # Published results (the literature dataset and its importers).
    "speedup": "real",
    "sparsity": "percent",
    "top1": "percent",
    "std": "percent",
    "n_trials": "trials",
    "selection": "selection",
    "base_acc": "percent",
    "params": "real",
    "base_epochs": "count",
    "base_lr": "schedule",
    "retrain_lr_note": "text",
    "source": "text",
    "note": "text",
    "group": "text",
    "compare_to": "text",
    "paper_setup": "text",
}

#: Columns read and checked but never compared by a setup (results, provenance, grouping).
INFO: frozenset[str] = frozenset({
    "top1", "std", "n_trials", "selection", "base_acc", "params", "base_epochs", "base_lr",
    "retrain_lr_note", "source", "note", "group", "compare_to", "paper_setup",
})

#: Columns the setups compare (everything but the row's name and the INFO columns).
COMPARED = tuple(c for c, kind in COLUMNS.items() if kind != "label" and c not in INFO)

#: Values of the ``selection`` column: how the reported epoch was chosen.
SELECTIONS = ("final", "best-test", "validation")

#: LRs written differently ("0.1" vs "1e-1") parse to the same float, but derived ones may carry noise.
_LR_REL_TOL = 1e-9


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def parse_cell(column: str, value: Any, where: str) -> Any:
    """The typed value of one cell, or ``None`` when it is missing. ``where`` names the row in errors."""
    if column not in COLUMNS:
        raise ConfigError(f"{where}: unknown column {column!r}; valid: {', '.join(COLUMNS)}")
    if is_missing(value):
        return None
    kind = COLUMNS[column]
    if kind in ("label", "text", "id"):
        return str(value).strip()
    if kind == "selection":
        text = str(value).strip()
        if text not in SELECTIONS:
            raise ConfigError(f"{where}, column {column!r}: expected one of {', '.join(SELECTIONS)}, got {value!r}")
        return text
    if kind == "schedule":
        try:  # braces and spaces as the authors write them are fine; the canonical form is kept
            return _schedule.normalize(value.strip() if isinstance(value, str) else value)
        except PrunebenchError as err:
            raise ConfigError(f"{where}, column {column!r}: {err}") from None
    number = _parse_number(column, value, where)
    if kind in ("count", "trials"):
        if not float(number).is_integer():
            raise ConfigError(f"{where}, column {column!r}: expected a whole number, got {value!r}")
        if kind == "trials" and number < 1:
            raise ConfigError(f"{where}, column {column!r}: expected at least 1 trial, got {value!r}")
        return int(number)
    if kind == "percent" and number > 100:
        raise ConfigError(f"{where}, column {column!r}: expected a percentage in [0, 100], got {value!r}")
    return float(number)



def _parse_number(column: str, value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}, column {column!r}: expected a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}, column {column!r}: bad number {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{where}, column {column!r}: expected a finite number >= 0, got {value!r}")
    return number


def parse_row(row: dict[str, Any], where: str, *, strict: bool = False) -> dict[str, Any]:
    """Every known column of ``row`` typed (missing ones as ``None``). Unknown keys are an error when
    ``strict`` and ignored otherwise (rows built in code may carry results such as accuracy)."""
    unknown = [k for k in row if k not in COLUMNS]
    if strict and unknown:
        raise ConfigError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; valid: {', '.join(COLUMNS)}")
    return {c: parse_cell(c, row.get(c), where) for c in COLUMNS}


def _schedule_key(value: Any) -> tuple[str, tuple[tuple[int, float], ...]]:
    """A schedule reduced to what it does: repeated LRs merged, a flat cosine is a constant."""
    sched = _schedule.parse(value)
    if sched.per_iteration:  # written out in full by its canonical string
        return (str(sched), ())
    if sched.kind == "cosine":
        start, end = sched.points[0][1], sched.points[1][1]
        if start != end:
            return ("cosine", ((0, start), (-1, end)))
        return ("step", ((0, start),))
    points: list[tuple[int, float]] = []
    for epoch, lr in sched.points:
        if not points or not math.isclose(points[-1][1], lr, rel_tol=_LR_REL_TOL):
            points.append((epoch, lr))
    return ("step", tuple(points))


def schedules_equal(a: Any, b: Any) -> bool:
    """Normalised equality: ``0:0.1,30:0.01`` equals ``0:1e-1,30:1e-2``; a cosine equals a cosine with
    the same ends; ``0:0.1,30:0.1`` equals ``0.1``."""
    (kind_a, pts_a), (kind_b, pts_b) = _schedule_key(a), _schedule_key(b)
    if kind_a != kind_b or len(pts_a) != len(pts_b):
        return False
    return all(
        ea == eb and math.isclose(la, lb, rel_tol=_LR_REL_TOL) for (ea, la), (eb, lb) in zip(pts_a, pts_b)
    )


def values_equal(column: str, a: Any, b: Any, tolerance: float) -> bool:
    """Equality of two present, typed values of ``column`` (see the table above)."""
    kind = COLUMNS[column]
    if kind == "schedule":
        return schedules_equal(a, b)
    if kind in ("real", "percent"):
        # Symmetric: the difference is measured against the larger magnitude, so a~b iff b~a.
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=0.0)
    if kind == "text":
        return name_key(a) == name_key(b)
    return a == b


def name_key(value: Any) -> str:
    """A data set or model name as compared: lower case, letters and digits only; whatever follows a
    ``{`` (a model's JSON arguments, as study rows write them) is kept exactly."""
    text = str(value)
    head, brace, rest = text.partition("{")
    return "".join(ch for ch in head.lower() if ch.isalnum()) + brace + rest


def check_tolerance(tolerance: Any) -> float:
    if isinstance(tolerance, bool):
        raise ConfigError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        raise ConfigError(f"tolerance must be a number in [0, 1), got {tolerance!r}") from None
    if not (0.0 <= value < 1.0):
        raise ConfigError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    return value

"""Comparison setups (Wang et al. 2023, §3): which ones two result rows meet, and what differs.

A method's claimed advantage must come from the pruning stage, not from pretraining or retraining.
Each setup holds a set of columns equal and builds on a weaker one (it needs everything that one
needs, too):

======= ========= ================================================== =====================================
setup   builds on adds, held equal                                   may still differ
======= ========= ================================================== =====================================
S1      --        dataset, model, macs (compression / speedup rate)  base model, all training
S2      S1        base (same base-model weights)                     retraining epochs and LR schedule
S3.1    S2        retrain_epochs                                     retraining LR schedule
S3.2    S2        retrain_lr, retrain_epochs, batch_size,            cost of the pruning stage
                  weight_decay, momentum
S4.1    S3.2      prune_epochs                                       pruning-stage LR schedule
S4.2    S3.2      prune_epochs, prune_lr                             nothing
SO      S1        overall_lr, total_epochs, batch_size,              when the sparsifying action happens
                  weight_decay, momentum
SX-A    S1        total_epochs (pretrain + prune + retrain)          (Scratch-E style)
SX-B    S1        total_compute (sum of epochs x MACs)               (Scratch-B style)
======= ========= ================================================== =====================================

**SO, "same overall schedule"**, is not one of Table 2's setups: it is what the paper's Table 4 means
by its loose "S4.2" (paper-notes §9): PxFy arms whose whole run -- x epochs of the scratch schedule,
then the rest of it -- is the scratch model's schedule, epoch for epoch; only the pruning epoch
differs. Table 2's chain stays strict: such arms prune different snapshots, so they do not even meet
S2. :func:`table4_label` gives the label Table 4 would print for a comparison: "S4.2" when SO holds,
else "SX-B" (same total compute: a squeezed pruning epoch), else "SX-A" (same total epochs, e.g. a
raised retraining LR).

A pruning stage of 0 epochs in both rows (one-shot criteria) has no schedule to differ in:
``prune_lr`` then counts as equal even though neither row has one.

S1's "compression or speedup rate" is ``macs`` when both rows give it, else ``speedup``, else
``sparsity`` (:data:`RATE_COLUMNS`, published tables rarely print MACs); a comparison's ``rate`` names
the column it was matched on. In setup tables and summaries the rate goes by the name ``macs``.

The chain S1 < S2 < S3.1 < S3.2 < S4.1 < S4.2 is ordered (S3.2 includes retrain_epochs, so it implies
S3.1); ``strictest`` is the last member of the chain that holds. SX-A and SX-B stand beside it.

Three outcomes per setup, decided column by column (how columns compare: :mod:`.columns`):

* **fails** -- some column it needs is present in both rows and differs (a fact; missing cells elsewhere
  cannot rescue it);
* **unknown** -- nothing it needs differs, but some column it needs is missing in either row;
* **holds** -- every column it needs is present in both rows and equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .columns import COMPARED, check_tolerance, parse_row, values_equal


@dataclass(frozen=True)
class Setup:
    name: str
    builds_on: str | None
    adds: tuple[str, ...]


#: The setup table; order = display order (the chain first, then the scratch-training setups).
SETUPS: tuple[Setup, ...] = (
    Setup("S1", None, ("dataset", "model", "macs")),
    Setup("S2", "S1", ("base",)),
    Setup("S3.1", "S2", ("retrain_epochs",)),
    Setup("S3.2", "S2", ("retrain_lr", "retrain_epochs", "batch_size", "weight_decay", "momentum")),
    Setup("S4.1", "S3.2", ("prune_epochs",)),
    Setup("S4.2", "S3.2", ("prune_epochs", "prune_lr")),
    Setup("SO", "S1", ("overall_lr", "total_epochs", "batch_size", "weight_decay", "momentum")),
    Setup("SX-A", "S1", ("total_epochs",)),
    Setup("SX-B", "S1", ("total_compute",)),
)

#: Weakest to strictest; each member's columns include the previous member's.
CHAIN: tuple[str, ...] = ("S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2")

#: What S1's "same compression rate" is matched on, in order of preference (the first column present
#: in both rows decides; ``macs`` stands for this choice in :data:`SETUPS`).
RATE_COLUMNS: tuple[str, ...] = ("macs", "speedup", "sparsity")

SETUP_NAMES: tuple[str, ...] = tuple(s.name for s in SETUPS)
_BY_NAME = {s.name: s for s in SETUPS}


def required_columns(setup: str) -> tuple[str, ...]:
    """Every column ``setup`` holds equal, its base setups' included, in column order."""
    if setup not in _BY_NAME:
        raise ConfigError(f"unknown comparison setup {setup!r}; valid: {', '.join(SETUP_NAMES)}")
    needed: set[str] = set()
    name: str | None = setup
    while name is not None:
        needed.update(_BY_NAME[name].adds)
        name = _BY_NAME[name].builds_on
    return tuple(c for c in COMPARED if c in needed)


_REQUIRED = {s.name: required_columns(s.name) for s in SETUPS}


def column_states(a: dict[str, Any], b: dict[str, Any], tolerance: float) -> dict[str, str]:
    """``equal`` / ``differs`` / ``missing`` for every compared column of two typed rows."""
    states = {}
    for column in COMPARED:
        va, vb = a[column], b[column]
        if column == "prune_lr" and va is None and vb is None and a["prune_epochs"] == b["prune_epochs"] == 0:
            states[column] = "equal"  # neither has a pruning stage to schedule
        elif va is None or vb is None:
            states[column] = "missing"
        else:
            states[column] = "equal" if values_equal(column, va, vb, tolerance) else "differs"
    return states


def rate_column(states: dict[str, str]) -> str | None:
    """The column S1's compression rate is matched on: the first of :data:`RATE_COLUMNS` present in
    both rows (``None`` when none is)."""
    return next((c for c in RATE_COLUMNS if states.get(c, "missing") != "missing"), None)


def needed_state(states: dict[str, str], column: str) -> tuple[str, str]:
    """``(column actually compared, its state)`` for a column a setup needs (``macs`` = the rate)."""
    if column == "macs":
        rate = rate_column(states)
        return (rate, states[rate]) if rate else ("macs", "missing")
    return column, states[column]


def setup_outcomes(states: dict[str, str]) -> dict[str, str]:
    """``holds`` / ``unknown`` / ``fails`` for every setup, from the column states."""
    outcomes = {}
    for name, columns in _REQUIRED.items():
        seen = {needed_state(states, c)[1] for c in columns}
        outcomes[name] = "fails" if "differs" in seen else "unknown" if "missing" in seen else "holds"
    return outcomes


def strictest_of(holds: list[str] | tuple[str, ...]) -> str | None:
    met = [name for name in CHAIN if name in holds]
    return met[-1] if met else None


#: Table 4's labels (paper-notes §9): the first relation that holds names the comparison. Equal
#: compute comes before equal epochs: a squeezed arm whose pruning epoch rounds to 0 meets both, and
#: Table 4 calls the squeezed arms SX-B.
TABLE4_ORDER: tuple[tuple[str, str], ...] = (("SO", "S4.2"), ("SX-B", "SX-B"), ("SX-A", "SX-A"))


def table4_label(holds: list[str] | tuple[str, ...]) -> str | None:
    """The label the paper's Table 4 gives a comparison that meets ``holds`` (None: none of them)."""
    for relation, label in TABLE4_ORDER:
        if relation in holds:
            return label
    return None


def row_label(row: dict[str, Any], fallback: str) -> str:
    name = row.get("name")
    return str(name).strip() if name is not None and str(name).strip() else fallback


def compare_rows(a: dict[str, Any], b: dict[str, Any], tolerance: float = 0.02) -> dict[str, Any]:
    """Which setups two result rows meet.

    Returns ``{"a", "b", "holds", "strictest", "table4", "differs", "unknown", "rate"}``: the row names,
    the setups that hold (table order), the strictest chain member that holds (or ``None``), Table 4's
    label for the pair (:func:`table4_label`), the compared columns present in both rows that differ,
    the setups left undecided by missing cells, and the column S1's compression rate was matched on
    (:func:`rate_column`).
    """
    tolerance = check_tolerance(tolerance)
    name_a, name_b = row_label(a, "a"), row_label(b, "b")
    typed_a = parse_row(a, f"row {name_a!r}")
    typed_b = parse_row(b, f"row {name_b!r}")
    return pair_result(name_a, name_b, column_states(typed_a, typed_b, tolerance))


def pair_result(name_a: str, name_b: str, states: dict[str, str]) -> dict[str, Any]:
    """The result dict of one comparison, from its column states."""
    outcomes = setup_outcomes(states)
    holds = [s for s in SETUP_NAMES if outcomes[s] == "holds"]
    return {
        "a": name_a,
        "b": name_b,
        "holds": holds,
        "strictest": strictest_of(holds),
        "table4": table4_label(holds),
        "differs": [c for c in COMPARED if states[c] == "differs"],
        "unknown": [s for s in SETUP_NAMES if outcomes[s] == "unknown"],
        "rate": rate_column(states),
    }

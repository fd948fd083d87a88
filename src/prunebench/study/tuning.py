"""Per-arm retraining-LR tuning on validation: ``tune: {lr: [0.1, 0.01, 0.001], on: validation, per: seed}``.

Every candidate LR is a real run (the arm's recipe with ``lr`` set to the candidate: a schedule
derived by the paper's rules for ``retrain``, the peak LR for ``slr`` / ``clr``; a regime that does
not read ``lr`` cannot be tuned and is refused). Once every candidate of a group has finished, the
one with the best *final validation* accuracy is selected (ties: the first in the grid); only the
selected run enters the report's tables and the audit. A group is one (arm, ratio, seed) with
``per: seed``, one (arm, ratio) with ``per: ratio`` (the candidate with the best mean validation
accuracy over the seeds, then each seed's run at that LR). Test accuracy never takes part
(``on: test`` is refused), and a data split without a validation set cannot be tuned on.

What tuning costs is recorded: a selected run's ``fairness.total_compute`` adds the retraining
compute (epochs x MACs) of every other candidate at its ratio and seed (the base model is shared),
and the row says how it was chosen (``tuning``). The audit compares tuning too: an arm tuned over a
grid and one that is not (or one tuned over another grid) did not retrain with the same LR by the
same rule, so their comparison is not S3.2 even when the chosen LRs happen to agree (it is at most
S3.1, ``retrain_lr`` named as the difference).
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from ..config import Spec
from ..errors import ConfigError
from .job import FINISHED


class TuneSpec(Spec):
    """An arm's ``tune:`` section."""

    lr: list[float] = Field(default_factory=list)
    on: str = "validation"
    per: Literal["seed", "ratio"] = "seed"

    @field_validator("lr")
    @classmethod
    def _grid(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("the LR grid is empty; give the candidate LRs, e.g. lr: [0.1, 0.01, 0.001]")
        if any(not (math.isfinite(v) and v > 0) for v in value):
            raise ValueError(f"every candidate LR must be a finite number > 0, got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"candidate LRs must be distinct, got {value}")
        return [float(v) for v in value]

    @field_validator("on")
    @classmethod
    def _on(cls, value: str) -> str:
        if value != "validation":
            raise ValueError(f"tuning selects on 'validation' only, got {value!r} (selecting on the test set "
                             "would report a test accuracy chosen by itself)")
        return value

    def describe(self) -> str:
        grid = ", ".join(f"{v:g}" for v in self.lr)
        return f"lr over [{grid}] on validation, per {self.per}"


def check_tunable(arm: Any, study: Any, source: str) -> None:
    """A tuned arm's regime must read ``lr`` and the data must hold a validation split."""
    from ..pipeline.regimes import get_regime

    if arm.tune is None:
        return
    where = f"{source}: arm {arm.name!r}: tune"
    name = arm.regime_choice().name
    if "lr" not in get_regime(name).reads:
        raise ConfigError(f"{where}: regime {name!r} does not read lr (it reads {', '.join(get_regime(name).reads) or 'none'}); "
                          "its LR cannot be tuned")
    if not study.data.val_fraction > 0:
        raise ConfigError(f"{where}: on validation needs a validation split (data.val_fraction > 0)")
    if arm.retrain is not None and arm.retrain.lr_schedule is not None:
        raise ConfigError(f"{where}: the arm writes lr_schedule out; tuning sets lr (drop lr_schedule)")


def candidate_fields(fields: dict[str, Any], lr: float) -> dict[str, Any]:
    """RegimeSpec fields of one candidate: the arm's, with ``lr`` the candidate (no written-out schedule)."""
    out = {k: v for k, v in fields.items() if k != "lr_schedule"}
    out["lr"] = lr
    return out


def _tune(row: dict[str, Any]) -> dict[str, Any] | None:
    return (row.get("meta") or {}).get("tune")


def _retrain_compute(row: dict[str, Any]) -> float:
    fair = (row.get("result") or {}).get("fairness") or {}
    return float(fair.get("retrain_epochs") or 0) * float(fair.get("macs") or 0)


def _val(row: dict[str, Any]) -> float:
    v = (row.get("result") or {}).get("val_acc")
    return -math.inf if v is None or not math.isfinite(v) else float(v)


def select_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored run rows with every tuning group replaced by its selected candidates (see the module
    docstring). A group not yet finished contributes its unfinished candidates, so nothing of it is
    reported as done; untuned rows pass through unchanged, in order."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        tune = _tune(row)
        if tune is not None:
            key = (row["arm"], row["ratio"]) + ((row["seed"],) if tune["per"] == "seed" else ())
            groups.setdefault(key, []).append(row)
    chosen: dict[str, dict[str, Any]] = {}  # run id -> the selected row, annotated
    hidden: set[str] = set()
    for members in groups.values():
        waiting = [r for r in members if r["status"] not in FINISHED]
        if waiting:
            hidden.update(r["run_id"] for r in members if r["status"] in FINISHED)
            continue
        grid = _tune(members[0])["grid"]
        by_lr: dict[float, list[dict[str, Any]]] = {}
        for r in members:
            by_lr.setdefault(_tune(r)["lr"], []).append(r)
        score = {lr: sum(_val(r) for r in rs) / len(rs) for lr, rs in by_lr.items()}
        best = max(grid, key=lambda lr: (score.get(lr, -math.inf), -grid.index(lr)))
        for r in members:
            if _tune(r)["lr"] != best:
                hidden.add(r["run_id"])
                continue
            others = [o for o in members if o["seed"] == r["seed"] and o is not r]
            chosen[r["run_id"]] = _annotated(r, best, others, score)
    return [chosen.get(r["run_id"], r) for r in rows if r["run_id"] not in hidden]


def _annotated(row: dict[str, Any], best: float, others: list[dict[str, Any]], score: dict[float, float]) -> dict[str, Any]:
    tune = _tune(row)
    result = dict(row.get("result") or {})
    fair = dict(result.get("fairness") or {})
    if fair.get("total_compute") is not None:
        fair["total_compute"] = fair["total_compute"] + sum(_retrain_compute(o) for o in others)
    grid = ", ".join(f"{v:g}" for v in tune["grid"])
    fair["tuning"] = f"lr over [{grid}] on validation, per {tune['per']}"
    result["fairness"] = fair
    result["tuning"] = {"grid": tune["grid"], "per": tune["per"], "lr": best, "candidates": 1 + len(others),
                        "val_acc": {f"{lr:g}": v for lr, v in score.items()}}
    return {**row, "result": result}


TUNING_SETUPS = ("S3.2", "S4.1", "S4.2")  # the setups that hold the retraining LR equal


def mark_tuning(result: dict[str, Any], tunings: dict[str, str | None], lead: str, target: str) -> dict[str, Any]:
    """An audit result of one group (``fairness.audit_rows``) with the tuning compared: a pair whose
    arms were tuned differently (one tuned, one not, or other grids) holds no setup that fixes the
    retraining LR, and names ``retrain_lr`` as a difference with the two tunings."""
    from ..fairness.setups import SETUP_NAMES, strictest_of, table4_label

    pairs, short = [], {item["b"]: item for item in result["summary"]["short"]}
    for pair in result["pairs"]:
        mine, theirs = tunings.get(pair["b"]), tunings.get(lead)
        if mine == theirs:
            pairs.append(pair)
            continue
        holds = [s for s in pair["holds"] if s not in TUNING_SETUPS]
        pair = {**pair, "holds": holds, "strictest": strictest_of(holds), "table4": table4_label(holds),
                "differs": sorted(set(pair["differs"]) | {"retrain_lr"}),
                "tuning": f"{pair['b']}: {mine or 'untuned'}; {lead}: {theirs or 'untuned'}"}
        pairs.append(pair)
        if target in TUNING_SETUPS:
            item = short.setdefault(pair["b"], {"b": pair["b"], "differs": [], "missing": []})
            item.update(strictest=pair["strictest"], differs=sorted(set(item["differs"]) | {"retrain_lr"}),
                        tuning=pair["tuning"])
    summary = dict(result["summary"])
    summary["short"] = list(short.values())
    summary["meets_target"] = not short
    summary["holds_every"] = [s for s in SETUP_NAMES if all(s in p["holds"] for p in pairs)]
    from ..fairness.audit import _weakest

    summary["strictest"] = _weakest([p["strictest"] for p in pairs])
    return {"pairs": pairs, "summary": summary}

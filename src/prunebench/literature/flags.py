"""The calibration flags (Wang et al. 2023, §4 recs. 4-5; docs/literature.md): named rules that say
why a published number or comparison should not be taken at face value.

A rule returns ``None`` (nothing to say: it does not apply, or the row passes), ``("flag", message)``
or ``("unknown", why)`` when the cells it needs are missing: unknown is never read as a pass.

Row rules look at one row (typed by :func:`prunebench.fairness.columns.parse_row`); pair rules at a
comparison (``ref``, ``row``, and the pair dict of :func:`prunebench.fairness.setups.pair_result`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .. import schedule as _schedule
from ..fairness.columns import schedules_equal


#: The base models' own training where a row does not say (used by ``under-trained`` only):
#: dataset -> (epochs, initial LR, where it comes from).
STANDARD_BASE: dict[str, tuple[int, float, str]] = {
    "cifar10": (200, 0.1, "the CIFAR base recipe, 200 epochs from 0.1 (paper-notes §7)"),
    "cifar100": (200, 0.1, "the CIFAR base recipe, 200 epochs from 0.1 (paper-notes §7)"),
    "imagenet": (90, 0.1, "the usual ImageNet recipe, 90 epochs from 0.1 (methods-notes A.3, F.3)"),
    "imagenet100": (120, 0.1, "the paper's ImageNet-100 scratch recipe, 120 epochs from 0.1 (paper-notes §7)"),
}

#: ``under-trained``: the fixed LR is at most this fraction of the base's initial LR ...
SMALL_LR_FRACTION = 0.1
#: ... and the retraining lasts fewer than this fraction of the base's epochs.
FEW_EPOCHS_FRACTION = 0.5

SCRATCH_BASE = "fresh-init"


def is_scratch(row: dict[str, Any]) -> bool:
    return row.get("base") == SCRATCH_BASE


def _g(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------- row rules
def recipe_unknown(row: dict[str, Any]) -> tuple[str, str] | None:
    if is_scratch(row):
        return None
    missing = [label for col, label in (("retrain_epochs", "epochs"), ("retrain_lr", "LR schedule")) if row.get(col) is None]
    if not missing:
        return None
    published = f" (published as: {row['retrain_lr_note']})" if row.get("retrain_lr_note") else ""
    return "flag", f"retraining {' and '.join(missing)} not given{published}: the number cannot be calibrated"


def _base_schedule(row: dict[str, Any]) -> tuple[int, float, str] | None:
    if row.get("base_epochs") is not None and row.get("base_lr") is not None:
        return row["base_epochs"], _schedule.parse(row["base_lr"]).initial_lr, "the row's base schedule"
    return STANDARD_BASE.get(str(row.get("dataset") or "").lower())


def under_trained(row: dict[str, Any]) -> tuple[str, str] | None:
    if is_scratch(row):
        return None
    epochs, lr = row.get("retrain_epochs"), row.get("retrain_lr")
    if lr is None:
        return None if epochs is None else ("unknown", "retraining LR schedule not given")
    sched = _schedule.parse(lr)
    if sched.kind != "step" or len(sched.points) != 1:
        return None  # a decaying schedule: not the fixed-LR recipe this rule is about
    if epochs is None:
        return "unknown", f"fixed LR {_g(sched.initial_lr)}, but the retraining epochs are not given"
    base = _base_schedule(row)
    if base is None:
        return "unknown", f"fixed LR {_g(sched.initial_lr)} for {epochs} epochs; no base schedule to judge it against"
    base_epochs, base_lr, where = base
    if sched.initial_lr <= SMALL_LR_FRACTION * base_lr and epochs < FEW_EPOCHS_FRACTION * base_epochs:
        return "flag", (f"retrained at a fixed LR {_g(sched.initial_lr)} for {epochs} epochs against {where}: "
                        "a small fixed LR and few epochs leave the pruned model short of convergence")
    return None


def single_run(row: dict[str, Any]) -> tuple[str, str] | None:
    if row.get("top1") is None:
        return None
    if row.get("n_trials") == 1:
        return "flag", "one run: no spread to tell a difference from noise"
    if row.get("std") is None and row.get("n_trials") is None:
        return "flag", "no std and no number of runs reported: a single number cannot show its spread"
    return None


def best_test(row: dict[str, Any]) -> tuple[str, str] | None:
    if row.get("selection") == "best-test":
        return "flag", "model selection on the test set (best test accuracy): the number is optimistic"
    if row.get("selection") is None and row.get("top1") is not None:
        return "unknown", "how the reported epoch was chosen is not stated"
    return None


# ---------------------------------------------------------------- pair rules
def retraining_differs(ref: dict[str, Any], row: dict[str, Any], pair: dict[str, Any]) -> tuple[str, str] | None:
    if is_scratch(ref) or is_scratch(row):
        return None
    diffs, unknown = [], []
    for col, label in (("retrain_lr", "LR schedule"), ("retrain_epochs", "epochs")):
        a, b = ref.get(col), row.get(col)
        if a is None or b is None:
            unknown.append(label)
        elif not (schedules_equal(a, b) if col == "retrain_lr" else a == b):
            diffs.append(f"{label} {b} vs {a}")
    if diffs:
        return "flag", f"retraining differs ({'; '.join(diffs)}): the gain may come from the retraining, not the pruning"
    if unknown:
        return "unknown", f"retraining {' and '.join(unknown)} not given for both rows"
    return None


def within_spread(ref: dict[str, Any], row: dict[str, Any], pair: dict[str, Any]) -> tuple[str, str] | None:
    if ref.get("top1") is None or row.get("top1") is None:
        return None
    if ref.get("std") is None or row.get("std") is None:
        return "unknown", "no std for both rows"
    diff, spread = abs(row["top1"] - ref["top1"]), ref["std"] + row["std"]
    if diff < spread:
        return "flag", (f"difference {diff:.2f} is smaller than the reported spread "
                        f"(std {_g(row['std'])} + {_g(ref['std'])} = {spread:.2f}): the mean ± std intervals overlap")
    return None


def base_accuracy(ref: dict[str, Any], row: dict[str, Any], pair: dict[str, Any]) -> tuple[str, str] | None:
    if "S2" in pair["holds"] or is_scratch(ref) or is_scratch(row):
        return None  # same base model, or a scratch arm (no base model to drop from)
    a, b = ref.get("base_acc"), row.get("base_acc")
    if a is None or b is None:
        return "unknown", "base accuracy not given for both rows: accuracies may start from different bases"
    if math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9):
        return None
    if ref.get("top1") is None or row.get("top1") is None:
        return "flag", f"base accuracies differ ({_g(b)} vs {_g(a)}): compare drops, not accuracies"
    return "flag", (f"base accuracies differ ({_g(b)} vs {_g(a)}): compare drops "
                    f"({row['top1'] - b:+.2f} vs {ref['top1'] - a:+.2f}), not accuracies")


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[..., Any]
    doc: str


ROW_RULES: tuple[Rule, ...] = (
    Rule("under-trained", under_trained,
         "retrained at one fixed LR of at most a tenth of the base training's initial LR, for fewer than half "
         "the base training's epochs (the row's base_lr / base_epochs, else the dataset's standard recipe); "
         "Li et al.'s L1-norm recipe, LR 0.001 fixed for 20 epochs on ImageNet, is the paper's example"),
    Rule("recipe-unknown", recipe_unknown,
         "the retraining epochs or the full LR schedule are not given: never trust a number whose retraining "
         "recipe is unknown"),
    Rule("single-run", single_run, "no std and no number of runs, or one run: prefer mean ± std over several runs"),
    Rule("best-test", best_test, "an epoch or checkpoint was picked by its test accuracy (selection = best-test)"),
)

PAIR_RULES: tuple[Rule, ...] = (
    Rule("retraining-differs", retraining_differs,
         "the two rows were retrained differently (LR schedule or epochs): a gain may come from the retraining "
         "LR, and is not the pruning method's (paper §4 rec. 5)"),
    Rule("within-spread", within_spread,
         "the accuracy difference is smaller than the sum of the two reported stds (the mean ± std intervals overlap)"),
    Rule("base-accuracy", base_accuracy,
         "the comparison does not hold S2 and the base accuracies differ or are unknown: compare the drops "
         "(top1 - base_acc), not the accuracies"),
)

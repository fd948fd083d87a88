"""Cross-validation of retraining recipes (Wang et al. 2023, §4 rec. 3).

Methods A and B each come with their own retraining recipe (FT_A, FT_B). Comparing A+FT_A with B+FT_B
mixes the pruning stage with the retraining stage, so also run A+FT_B and B+FT_A. A method that wins
under both recipes earns the credit; a winner that changes with the recipe means pruning and
retraining interact, and neither method can claim the gain.

An *arm* is a dict with

* ``name`` -- the method's name (no ``+FT_`` inside, it separates method and recipe in arm names);
* ``retrain`` -- the retraining recipe (a dict, e.g. ``{"lr": "0:0.01,60:0.001", "epochs": 120}``);
* any other keys -- the pruning part, copied as they are (e.g. ``criterion``, ``prune``, ``ratio``).

:func:`cross_validate_recipes` returns the four arms ``A+FT_A, A+FT_B, B+FT_A, B+FT_B`` (pruning part
of the first name, recipe of the second); :func:`judge_cross_validation` reads their accuracies.
"""
from __future__ import annotations

import copy
import math
from typing import Any

from ..errors import ConfigError

SEPARATOR = "+FT_"


def _check_arm(arm: Any, label: str) -> str:
    if not isinstance(arm, dict):
        raise ConfigError(f"{label} must be a dict with 'name' and 'retrain', got {type(arm).__name__}")
    name = arm.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{label} needs a non-empty string 'name'")
    if SEPARATOR in name:
        raise ConfigError(f"{label} name {name!r} must not contain {SEPARATOR!r}")
    if not isinstance(arm.get("retrain"), dict):
        raise ConfigError(f"{label} {name!r} needs a 'retrain' dict (its retraining recipe)")
    return name


def arm_name(method: str, recipe: str) -> str:
    return f"{method}{SEPARATOR}{recipe}"


def cross_validate_recipes(method_a: dict[str, Any], method_b: dict[str, Any]) -> list[dict[str, Any]]:
    """The four arms A+FT_A, A+FT_B, B+FT_A, B+FT_B (deep copies; the inputs are not touched)."""
    name_a, name_b = _check_arm(method_a, "method_a"), _check_arm(method_b, "method_b")
    if name_a == name_b:
        raise ConfigError(f"the two methods need different names, both are {name_a!r}")
    arms = []
    for pruner in (method_a, method_b):
        for recipe in (method_a, method_b):
            arm = {k: copy.deepcopy(v) for k, v in pruner.items() if k not in ("name", "retrain")}
            arm["name"] = arm_name(pruner["name"], recipe["name"])
            arm["retrain"] = copy.deepcopy(recipe["retrain"])
            arms.append(arm)
    return arms


def _split(results: dict[str, Any]) -> tuple[list[str], dict[tuple[str, str], float]]:
    """Methods in order of first appearance, and accuracy by (method, recipe)."""
    methods: list[str] = []
    table: dict[tuple[str, str], float] = {}
    for name, value in results.items():
        method, sep, recipe = str(name).partition(SEPARATOR)
        if not sep or not method or not recipe or SEPARATOR in recipe:
            raise ConfigError(f"arm name {name!r} is not METHOD{SEPARATOR}RECIPE")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"accuracy of arm {name!r} must be a finite number, got {value!r}")
        table[(method, recipe)] = float(value)
        for m in (method, recipe):
            if m not in methods:
                methods.append(m)
    if len(methods) != 2 or len(table) != 4:
        raise ConfigError(
            "cross-validation needs exactly the four arms A+FT_A, A+FT_B, B+FT_A, B+FT_B; "
            f"got {', '.join(map(repr, results))}"
        )
    return methods, table


def _winner(first: str, second: str, margin: float, tie: float) -> str | None:
    if abs(margin) <= tie:
        return None
    return first if margin > 0 else second


def judge_cross_validation(results: dict[str, float], tie: float = 0.0) -> dict[str, Any]:
    """Whether the better method stays the better one under both retraining recipes.

    ``results`` maps the four arm names to mean accuracies; a margin of at most ``tie`` is a tie.
    Returns ``methods`` [A, B]; ``by_recipe`` {recipe: {"winner", "margin"}} with margin = A - B under
    that recipe; ``own_recipes`` the same for A+FT_A vs B+FT_B (the comparison papers usually make);
    ``consistent``; ``winner`` (the credited method, or ``None``); and a one-line ``verdict``.
    """
    if isinstance(tie, bool) or not isinstance(tie, (int, float)) or not (tie >= 0 and math.isfinite(tie)):
        raise ConfigError(f"tie must be a finite number >= 0, got {tie!r}")
    (a, b), acc = _split(results)
    by_recipe = {}
    for recipe in (a, b):
        margin = acc[(a, recipe)] - acc[(b, recipe)]
        by_recipe[recipe] = {"winner": _winner(a, b, margin, tie), "margin": margin}
    own_margin = acc[(a, a)] - acc[(b, b)]
    winners = {entry["winner"] for entry in by_recipe.values()}
    consistent = len(winners) == 1 and None not in winners
    winner = next(iter(winners)) if consistent else None
    return {
        "methods": [a, b],
        "by_recipe": by_recipe,
        "own_recipes": {"winner": _winner(a, b, own_margin, tie), "margin": own_margin},
        "consistent": consistent,
        "winner": winner,
        "verdict": _verdict(a, b, by_recipe, winner),
    }


def _verdict(a: str, b: str, by_recipe: dict[str, dict[str, Any]], winner: str | None) -> str:
    detail = ", ".join(
        f"FT_{recipe}: {entry['winner'] or 'tie'} ({a} - {b} = {entry['margin']:+.4g})"
        for recipe, entry in by_recipe.items()
    )
    if winner is not None:
        return f"{winner} wins under both recipes ({detail}): the credit goes to {winner}'s pruning"
    return f"no consistent winner ({detail}): pruning and retraining interact; neither method earns the credit"

"""Factorial arms: an arm that gives a list for some of its fields stands for every combination.

```yaml
arms:
  - {criterion: [l1, taylor, bn-scale], retrain: {lr: [0.01, 0.001]}}
```
becomes six arms named ``l1/lr0.01``, ``l1/lr0.001``, ``taylor/lr0.01``, ... (first factor
outermost), each exactly the mapping one would have written by hand, so the runs (and their ids) are
the same. An arm's ``name``, when given, prefixes the level labels (``prune/l1/lr0.01``).

Fields that may be factors: ``criterion``, ``reinit``, ``regime`` (names), and the scalar keys of
``retrain``. ``prune`` and ``ratios`` already take lists of their own (per-layer ratios, an arm's
ratio list) and are never factors. Expansion works on the YAML content, before validation.
"""
from __future__ import annotations

import copy
import itertools
from typing import Any

from ..errors import ConfigError

#: Top-level arm fields that may be given as a list of levels, and the label prefix of a level.
ARM_FACTORS = {"criterion": "", "reinit": "", "regime": ""}
#: ``retrain`` keys that may be given as a list of levels, and their label prefix.
RETRAIN_FACTORS = {"lr": "lr", "final_lr": "final_lr", "epochs": "epochs", "lr_schedule": "", "extend": "extend",
                   "batch_size": "bs", "momentum": "momentum", "weight_decay": "wd", "nesterov": "nesterov"}


#: Arm fields that hold a mapping whose keys may be factors: field -> {key: label prefix}.
NESTED_FACTORS = {"retrain": RETRAIN_FACTORS}


def level_label(prefix: str, value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)
    return prefix + text


def _factors(arm: dict[str, Any]) -> list[tuple[tuple[str, ...], list[Any], str]]:
    """(path inside the arm, levels, label prefix) of every list-valued factor field, in file order."""
    found = []
    for key, value in arm.items():
        if key in ARM_FACTORS and isinstance(value, list):
            found.append(((key,), value, ARM_FACTORS[key]))
        elif key in NESTED_FACTORS and isinstance(value, dict):
            table = NESTED_FACTORS[key]
            for sub, levels in value.items():
                if sub in table and isinstance(levels, list):
                    found.append(((key, sub), levels, table[sub]))
    return found


def _set(arm: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = arm
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def expand_arm(arm: Any, where: str) -> list[Any]:
    """The arms one (possibly factorial) arm stands for; a plain arm is returned as it is."""
    if not isinstance(arm, dict):
        return [arm]
    factors = _factors(arm)
    if not factors:
        return [arm]
    for path, levels, _ in factors:
        dotted = ".".join(path)
        if not levels:
            raise ConfigError(f"{where}: factor {dotted} has an empty list of levels")
        labels = [level_label("", v) for v in levels]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"{where}: factor {dotted} repeats the level {dup[0]}")
        bad = [v for v in levels if isinstance(v, (list, dict))]
        if bad:
            raise ConfigError(f"{where}: factor {dotted}: a level must be a single value, got {bad[0]!r}")
    out = []
    prefix = arm.get("name")
    for combo in itertools.product(*(levels for _, levels, _ in factors)):
        one = copy.deepcopy(arm)
        labels = []
        for (path, _, label_prefix), value in zip(factors, combo):
            _set(one, path, value)
            labels.append(level_label(label_prefix, value))
        one["name"] = "/".join(([str(prefix)] if prefix else []) + labels)
        out.append(one)
    return out


def expand_arms(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The study content with every factorial arm expanded (a new mapping; ``data`` is unchanged)."""
    arms = data.get("arms")
    if not isinstance(arms, list):
        return data
    expanded = []
    for i, arm in enumerate(arms):
        expanded += expand_arm(arm, f"{source}: arms.{i}")
    if len(expanded) == len(arms) and all(a is b for a, b in zip(expanded, arms)):
        return data
    return {**data, "arms": expanded}


def resolve_reference(reference: Any, names: list[str]) -> Any:
    """An arm name, or the level labels of a factorial arm (``l1`` for ``l1/lr0.01``, ...): the first
    arm, in study order, whose name has every ``/``-part of ``reference`` among its own parts.
    Anything else is returned unchanged (the caller reports the missing arm)."""
    if not isinstance(reference, str) or reference in names:
        return reference
    wanted = [p for p in reference.split("/") if p]
    for name in names:
        parts = name.split("/")
        if wanted and all(p in parts for p in wanted):
            return name
    return reference

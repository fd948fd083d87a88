"""Grouped comparisons: which arm each arm is compared with.

Without ``compare`` every arm is compared with the study's reference arm. With
``compare: {within: [retrain.lr]}`` the arms are grouped by their level of the named factors (the
value the arm's runs use, the study's defaults applied), and each group's reference is the arm of the
group that equals the study's reference arm in every *other* field: ``taylor/lr0.001`` is compared
with ``l1/lr0.001``, never with ``l1/lr0.01``. ``compare: {by: [criterion]}`` names the factor under
test instead: arms are grouped by every other field that varies between arms.

The factors a ``within`` holds per group are the ones the study deliberately varies between groups;
the audit names them and never compares across them.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import ConfigError
from .spec import COMPARE_PATHS, RETRAIN_KEYS, ArmSpec, CompareSpec, StudySpec


def arm_design(study: StudySpec, arm: ArmSpec) -> dict[str, str]:
    """Every comparable field of an arm (``COMPARE_PATHS``) as canonical JSON text."""
    from .spec import regime_fields

    recipe = regime_fields(study, arm)
    regime = arm.regime_choice().model_dump(mode="json", exclude_none=True)
    values: dict[str, Any] = {
        "criterion": arm.criterion, "prune": arm.prune, "reinit": arm.reinit, "regime": regime,
        "model": (arm.model or study.model).model_dump(mode="json"), "ratios": arm.ratios or study.ratios,
        "method": arm.method_fields(),
        **{f"retrain.{k}": recipe.get(k) for k in RETRAIN_KEYS},
    }
    return {p: json.dumps(values[p], sort_keys=True) for p in COMPARE_PATHS}


def within_of(study: StudySpec, compare: CompareSpec) -> list[str]:
    """The factors held equal inside each group."""
    if compare.within:
        return list(compare.within)
    designs = [arm_design(study, a) for a in study.arms]
    return [p for p in COMPARE_PATHS if p not in compare.by and len({d[p] for d in designs}) > 1]


def _level(design: dict[str, str], paths: list[str]) -> str:
    return ", ".join(f"{p}={json.loads(design[p])}" for p in paths) or "(one group)"


def group_references(study: StudySpec, compare: CompareSpec | None, *, reference: str | None = None,
                     where: str = "study") -> dict[str, str]:
    """``{arm: the arm it is compared with}`` (a group's reference maps to itself); empty without
    ``compare``. A group without an arm matching the reference is a one-line ConfigError."""
    if compare is None:
        return {}
    ref_name = reference or study.reference
    names = [a.name for a in study.arms]
    if ref_name not in names:
        raise ConfigError(f"{where}: reference: arm {ref_name!r} is not an arm; arms: {', '.join(names)}")
    within = within_of(study, compare)
    designs = {a.name: arm_design(study, a) for a in study.arms}
    others = [p for p in COMPARE_PATHS if p not in within]
    ref_rest = [designs[ref_name][p] for p in others]
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        groups.setdefault(tuple(designs[name][p] for p in within), []).append(name)
    out: dict[str, str] = {}
    for members in groups.values():
        leads = [m for m in members if [designs[m][p] for p in others] == ref_rest]
        if not leads:
            level = _level(designs[members[0]], within)
            raise ConfigError(f"{where}: compare: the group {level} has no arm that matches the reference "
                              f"{ref_name!r} in everything else (arms: {', '.join(members)})")
        out.update({m: leads[0] for m in members})
    return out


def describe(study: StudySpec, compare: CompareSpec | None) -> dict[str, Any] | None:
    """What the study varies on purpose: ``{"within": [...], "by": [...]}`` for the audit and report."""
    if compare is None:
        return None
    return {"within": within_of(study, compare), "by": list(compare.by)}


def parse_compare(text: str | None) -> CompareSpec | None:
    """``--compare within=retrain.lr[,criterion]`` or ``by=criterion``; ``none`` drops a study's own."""
    from ..config import validate

    if text is None:
        return None
    kind, _, paths = text.partition("=")
    kind = kind.strip()
    if kind not in ("within", "by") or not paths.strip():
        raise ConfigError(f"--compare must be within=FACTOR[,FACTOR] or by=FACTOR[,FACTOR], got {text!r}")
    return validate(CompareSpec, {kind: [p.strip() for p in paths.split(",") if p.strip()]}, "--compare")


def stored_study(meta: dict[str, Any]) -> StudySpec | None:
    """The study spec a study directory recorded (None when it recorded none)."""
    data = meta.get("study")
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("base"), dict) and "seed" in data["base"]:  # recorded by earlier versions
        data = {**data, "base": {k: v for k, v in data["base"].items() if k != "seed"}}
    try:
        return StudySpec.model_validate(data)
    except Exception:
        raise ConfigError("the study directory's recorded study spec is not valid for this prunebench") from None


def comparison_plan(meta: dict[str, Any], *, reference: str | None = None, compare: str | None = None) -> dict[str, Any]:
    """Reference, per-arm references and the varied factors of a stored study, with the command
    line's ``--reference`` / ``--compare`` (``--compare none`` drops the study's grouping) applied."""
    study = stored_study(meta)
    ref = reference or meta.get("reference")
    if study is None:
        if compare:
            raise ConfigError("--compare needs the study spec, which this study directory did not record")
        return {"reference": ref, "references": {}, "compare": None}
    if reference is not None:
        from .factorial import resolve_reference

        ref = resolve_reference(reference, [a.name for a in study.arms])
    spec = study.compare if compare is None else (None if compare.strip() == "none" else parse_compare(compare))
    if spec is None and ref not in [a.name for a in study.arms]:
        raise ConfigError(f"--reference: arm {ref!r} is not an arm; arms: {', '.join(a.name for a in study.arms)}")
    refs = group_references(study, spec, reference=ref, where="study")
    return {"reference": ref, "references": refs, "compare": describe(study, spec)}

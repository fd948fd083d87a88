"""Dry checks of a study's runs before anything is written: every run must be able to start.

Pydantic validates each field; these checks resolve what only the combination decides: the prune
spec applies to the model (patterns match, indices exist, stage lists fit), the regime resolves
against the base recipe (snapshots inside the base run, enough epochs for the LR stages), an
external base model is the model the study names. A run that could only fail is a one-line
ConfigError now, not a failure after the base models have trained.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..config import TrainSpec
from ..errors import ConfigError, PrunebenchError

# A criterion that needs training data to score (``needs`` grad or data) is swapped, for the dry run only,
# for a data-free one of the same granularity: the structure, not the scores, is what is checked.
_DATA_FREE = {"filter": "l1", "weight": "magnitude"}


def _prune_counts(model_json: str, prune_json: str) -> tuple[int, int]:
    """(dense MACs, pruned MACs) of the model at its default input shape, after the prune spec."""
    return _pruned(model_json, prune_json)[:2]


def pruned_architecture(spec: Any) -> str:
    """What a run's prune spec leaves of its model (every layer's dense and pruned width, the
    params and MACs that remain, nonzero ones under masks), as one comparable string."""
    return _pruned(json.dumps(spec.model.full_json(), sort_keys=True), json.dumps(spec.prune.full_json(), sort_keys=True))[2]


@lru_cache(maxsize=256)
def _pruned(model_json: str, prune_json: str) -> tuple[int, int, str]:
    from ..models import build_model
    from ..pruning import CRITERIA, PruneSpec, prune

    model_spec, prune_spec = json.loads(model_json), PruneSpec.model_validate(json.loads(prune_json))
    if CRITERIA.get(prune_spec.criterion).needs_training_data():
        prune_spec = prune_spec.model_copy(update={"criterion": _DATA_FREE[prune_spec.granularity], "criterion_args": {}})
    model = build_model(model_spec["name"], seed=0, **model_spec.get("args", {}))
    report = prune(model, prune_spec, check=False).report
    shape = json.dumps([report["widths"], report["params"], report["macs"]], sort_keys=True)
    return report["dense_macs"], report["macs"], shape


def check_run(spec: Any, base_recipe: TrainSpec | None, where: str) -> None:
    """Raise a one-line ConfigError if the pipeline run ``spec`` cannot start."""
    from ..pipeline.regimes import RegimeContext, resolve

    try:
        dense, pruned = _prune_counts(json.dumps(spec.model.full_json(), sort_keys=True),
                                      json.dumps(spec.prune.full_json(), sort_keys=True))
        resolved = resolve(spec.regime, RegimeContext(base_recipe, dense, pruned, spec.seed))
        from ..pipeline.stage import check_stage_fits, stage_recipe
        from ..pruning.methods.base import get_method

        if get_method(spec.method.name).has_stage:  # the stage resolves against the base (IMP's rewind point)
            stage_recipe(spec, base_recipe)
            check_stage_fits(spec, base_recipe)  # and holds the method's schedule (real steps per epoch)
    except PrunebenchError as err:
        msg = str(err).splitlines()[0]
        raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    if resolved.fresh and spec.reinit == "orthp":
        raise ConfigError(f"{where}: regime {spec.regime.name!r} starts from a fresh init; reinit 'orthp' does not apply (use keep or fresh)")


def external_base(path: Path, where: str) -> tuple[dict[str, Any], TrainSpec | None]:
    """``model.json`` of an external base model directory and the recipe that trained it (None when
    it was not made by ``prunebench train``). A pruned model directory (it has plan.json) is refused:
    its runs would prune the pruned model and count it as the dense one."""
    if (path / "plan.json").exists():
        raise ConfigError(f"{where}: base {path} is a pruned model directory (it has plan.json); give its dense model directory")
    try:
        info = json.loads((path / "model.json").read_text())
        spec = json.loads((path / "spec.json").read_text()) if (path / "spec.json").is_file() else {}
    except (OSError, ValueError) as err:  # ValueError: corrupt JSON, or bytes that are not UTF-8
        raise ConfigError(f"{where}: base {path} has an unreadable model.json / spec.json ({err.__class__.__name__})") from None
    if not isinstance(info, dict) or not isinstance(spec, dict):
        raise ConfigError(f"{where}: base {path}: model.json and spec.json must each hold a JSON object")
    if not isinstance(info.get("name"), str) or not isinstance(info.get("args", {}), dict):
        raise ConfigError(f"{where}: base {path}/model.json needs a model 'name' and a mapping of 'args'")
    train = spec.get("train")
    try:
        return info, (TrainSpec.model_validate(train) if isinstance(train, dict) else None)
    except Exception:
        raise ConfigError(f"{where}: base {path}/spec.json holds no valid training recipe") from None


def check_base_model(info: dict[str, Any], model: Any, where: str) -> None:
    """An external base must be the model a run prunes (name and arguments)."""
    if info.get("name") != model.name or dict(info.get("args") or {}) != dict(model.args):
        have = f"{info.get('name')} {json.dumps(info.get('args') or {}, sort_keys=True)}"
        want = f"{model.name} {json.dumps(model.args, sort_keys=True)}"
        raise ConfigError(f"{where}: the base model directory holds {have}, but the run prunes {want}")

"""Sanity-check arms: ``{name: l1-random, sanity: same-ratios-random, of: l1}`` is arm ``l1`` with its
criterion's choice of units thrown away (pruning/sanity.py), sharing everything else: its base
models, its ratios, its regime and retraining recipe, its model. Kinds:

* ``same-ratios-random``, ``shuffled-mask``, ``inverted``: the checked arm's prune spec with
  ``sanity`` set (what the pruning does with the criterion's scores);
* ``reinit-on-mask``: the checked arm's pruned architecture (or mask) from a fresh init
  (``reinit: fresh``), retrained as the checked arm retrains.

The first three check a one-shot criterion's scores: a run whose ``method`` has a pruning stage (its
choice comes from the stage) refuses them (``PipelineSpec``); ``reinit-on-mask`` copies the method too.

A sanity arm names no field of its own besides ``name``, ``sanity`` and ``of``; a field given anyway
must equal the derived one (so a stored study, which writes every field out, reads back). The checked
arm cannot itself be a sanity arm. The report's "Sanity checks" section compares each sanity arm
with the arm it checks (report/sanity.py).
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError

KINDS = ("same-ratios-random", "shuffled-mask", "inverted", "reinit-on-mask")
#: Kinds that are a pruning step (PruneSpec.sanity); the other one is a re-initialisation.
PRUNE_KINDS = ("same-ratios-random", "shuffled-mask", "inverted")
#: Arm fields a sanity arm takes from the arm it checks.
COPIED = ("criterion", "prune", "reinit", "regime", "retrain", "ratios", "model", "tune", "method")


def derive_sanity_arms(study: Any, source: str) -> Any:
    """The study with every sanity arm filled in from the arm it checks (a new StudySpec)."""
    arms = {a.name: a for a in study.arms}
    out, changed = [], False
    for arm in study.arms:
        if arm.sanity is None and arm.of is None:
            out.append(arm)
            continue
        where = f"{source}: arm {arm.name!r}"
        if arm.sanity is None or arm.of is None:
            raise ConfigError(f"{where}: a sanity arm needs both 'sanity' (one of {', '.join(KINDS)}) and 'of' (the arm it checks)")
        checked = arms.get(arm.of)
        if checked is None or checked.name == arm.name:
            raise ConfigError(f"{where}: of: {arm.of!r} is not another arm of the study")
        if checked.sanity is not None:
            raise ConfigError(f"{where}: of: arm {arm.of!r} is itself a sanity arm; check the arm it checks")
        value = {k: getattr(checked, k) for k in COPIED}
        if arm.sanity == "reinit-on-mask":
            if checked.reinit == "fresh":
                raise ConfigError(f"{where}: arm {arm.of!r} already re-initialises fresh; reinit-on-mask would be the same arm")
            value["reinit"] = "fresh"
        for key in sorted(arm.model_fields_set & set(COPIED)):
            if getattr(arm, key) != value[key]:
                raise ConfigError(f"{where}: a sanity arm takes {key} from arm {arm.of!r}; do not set it")
        # Only what the checked arm set (so that, e.g., a preset's own criterion stays its own), and the re-init.
        update = {k: value[k] for k in COPIED if k in checked.model_fields_set or (k == "reinit" and value[k] != arm.reinit)}
        out.append(arm.model_copy(update=update))
        changed = True
    return study.model_copy(update={"arms": out}) if changed else study


def prune_sanity(arm: Any) -> str | None:
    """The PruneSpec ``sanity`` of an arm's runs (None: the criterion's own choice)."""
    return arm.sanity if arm.sanity in PRUNE_KINDS else None

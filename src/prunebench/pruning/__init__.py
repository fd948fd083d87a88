"""Pruning: criteria (scores), ratio specs and presets (allocation), plans (JSON, replayable),
structured application (physical filter removal via Torch-Pruning's dependency graph) and
unstructured application (weight masks kept through retraining). Re-initialisation lives in
``pruning.reinit``.

Main entry point: ``prune(model, spec, *, data=None, seed=0, check=True) -> PruneResult``.
"""
from __future__ import annotations

from .api import PruneResult, apply_filter_plan, as_spec, make_report, prune
from .criteria import CRITERIA, Criterion, ScoreInput
from .masks import MaskSet, enforce_masks, masks_of
from .plan import dense_hash
from .replaying import reinit_pruned, replay, restructure
from .presets import PRESETS, Preset
from .ratios import n_removed
from .spec import PruneSpec, parse_prune_arg, parse_ratio

__all__ = [
    "CRITERIA", "Criterion", "MaskSet", "PRESETS", "Preset", "PruneResult", "PruneSpec", "ScoreInput",
    "apply_filter_plan", "as_spec", "dense_hash", "enforce_masks", "make_report", "masks_of", "n_removed",
    "parse_prune_arg", "parse_ratio", "prune", "reinit_pruned", "replay", "restructure",
]

"""What a pipeline run records for the comparison-setup audit (``result.json["fairness"]``).

The column meanings follow paper-notes §3 and §9:

* ``base`` names the model that was pruned: the base run id for the final dense weights, and
  ``RUNID@epoch-X`` for a PxFy arm pruned from the epoch-X snapshot (two arms pruned at different
  epochs did not prune the same model, so they do not meet S2); ``fresh-init`` for scratch arms.
* ``pruning_epoch``: the epoch of the dense schedule at which the sparsifying action happened (K1
  for the final weights, X for PxFy); ``None`` for scratch arms, or when the base recipe is unknown.
* ``prune_epochs`` / ``prune_lr``: the *pruning stage* (what the method does between the base model
  and the sparsifying action, §9): its epochs and LR schedule for a method with one (slimming,
  GReg, TPP, AGP, IMP, SFP), 0 epochs and no schedule for a one-shot method. Dense epochs before a
  PxFy prune belong to the base model, not to the pruning stage.
* ``overall_lr``: the whole run as one epoch-indexed LR sequence, pretraining up to the pruning epoch
  then retraining (for scratch arms, their own schedule), written as a step schedule; with
  ``total_epochs`` it is what Table 4's loose "S4.2" holds equal (relation ``SO``).
* ``macs``: the pruned model's MACs as every other column uses them (nonzero weights only under
  unstructured masks); ``total_compute`` = pretraining epochs x dense MACs + the pruning stage's
  compute (each stage epoch at the MACs it ran at: dense for a regularisation stage, falling for a
  gradual schedule, per round for IMP; nonzero weights only) + retraining epochs x MACs.
  ``total_epochs`` = pretraining + pruning-stage + retraining epochs; ``overall_lr`` runs through the
  stage's LRs between the two.
"""
from __future__ import annotations

from typing import Any

from .. import schedule as sched
from ..config import TrainSpec

#: Pruning-stage epochs of every built-in (one-shot) criterion.
ONE_SHOT_PRUNE_EPOCHS = 0


def pruned_snapshot(resolved: Any) -> int | None:
    """The base epoch whose weights were scored and pruned when it is not the final one (PxFy), else
    ``None``. (Weight rewinding starts from a snapshot too, but prunes the final weights.)"""
    return None if resolved.fresh else resolved.score_epoch


def base_identity(base_id: str, resolved: Any) -> str:
    if resolved.fresh:
        return "fresh-init"
    epoch = pruned_snapshot(resolved)
    return base_id if epoch is None else f"{base_id}@epoch-{epoch}"


def overall_schedule(base_recipe: TrainSpec | None, pretrain_epochs: int, retrain: TrainSpec,
                     stage_lrs: list[float] | None = None) -> str | None:
    """Pretraining epochs 0..pretrain_epochs-1 of the base schedule, the pruning stage's LRs (none for
    one-shot), then the retraining schedule."""
    if pretrain_epochs and base_recipe is None:
        return None
    before = base_recipe.schedule.lrs(base_recipe.epochs)[:pretrain_epochs] if pretrain_epochs else []
    return sched.from_lrs(before + list(stage_lrs or []) + retrain.schedule.lrs(retrain.epochs))


def schedule_fields(resolved: Any, base_recipe: TrainSpec | None, macs: int, dense_macs: int,
                    stage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The columns that depend on when the run pruned, on the base recipe and on the method's
    pruning stage (``stage``: its ``epochs``, ``lr_schedule``, ``lrs`` and ``compute``; None: one-shot).
    A fresh-start (scratch) arm spends no pruning stage of its own: the architecture it trains may
    come from one, but its weights do not, so its columns are its own training only."""
    retrain, fresh = resolved.retrain, resolved.fresh
    known = fresh or base_recipe is not None
    pre = resolved.pretrain_epochs if known else None
    own = stage if stage is not None and not fresh else None
    s_epochs = own["epochs"] if own else ONE_SHOT_PRUNE_EPOCHS
    s_compute = own["compute"] if own else 0
    return {
        "pruning_epoch": None if fresh or not known else pre,
        "prune_epochs": s_epochs,
        "prune_lr": own["lr_schedule"] if own else None,
        "overall_lr": overall_schedule(base_recipe, pre, retrain, own["lrs"] if own else None) if known else None,
        "total_epochs": pre + s_epochs + retrain.epochs if known else None,
        "total_compute": pre * dense_macs + s_compute + retrain.epochs * macs if known else None,
    }

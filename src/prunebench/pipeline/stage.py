"""A method's pruning stage inside a pipeline run: the dense base model trains under the stage's
recipe with the method's hooks in the one training loop (checkpointed every epoch, resumed after an
interruption), then the method cuts. What the stage cost is recorded for the fairness columns.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..config import TrainRunSpec, TrainSpec
from ..errors import ArtifactError
from ..pruning.methods.base import Method, StageContext, get_method
from ..pruning.methods.common import targets
from ..rng import derive_seed
from ..train.loop import prepared, steps_per_epoch
from ..train.run import place_model, run_training
from .callbacks import JSVCallback, jsv_inputs


class StageDiverged(Exception):
    """The pruning stage diverged (DivergenceGuard stopped it): there is no pruned model. Carries the
    guard's message and the stage record up to the divergence; ``run_pipeline`` turns it into a run
    that ended ``diverged`` in its stage, never a traceback."""

    def __init__(self, message: str, record: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.record = record


def method_snapshots(spec: Any) -> set[int]:
    """Base epochs the run's method needs kept (IMP weight rewinding)."""
    method = get_method(spec.method.name)
    return method.snapshots(spec.method.parsed()) if method.has_stage else set()


def stage_recipe(spec: Any, base_recipe: TrainSpec | None) -> TrainSpec:
    """The stage's full recipe: its epochs and schedule, optimizer settings from the method's args
    or else the base recipe's, the run's seed and device, and the base recipe's precision settings
    (deterministic, tf32, autocast), as the retraining takes them."""
    method, args = get_method(spec.method.name), spec.method.parsed()
    epochs, schedule = method.stage_schedule(args, base_recipe)
    base = base_recipe or TrainSpec()
    pick = lambda v, d: d if v is None else v  # noqa: E731
    return TrainSpec(epochs=epochs, lr_schedule=schedule, batch_size=pick(args.batch_size, base.batch_size),
                     momentum=pick(args.momentum, base.momentum), nesterov=base.nesterov,
                     weight_decay=pick(args.weight_decay, base.weight_decay),
                     seed=derive_seed(spec.seed, "stage") % (2**31), device=spec.run_device,
                     # how exactly it trains: as the base recipe did, like the retraining (regimes.recipe)
                     deterministic=base.deterministic, tf32=base.tf32, autocast=base.autocast)


@lru_cache(maxsize=8)
def _training_split(data_json: str) -> tuple[int, tuple[int, ...], int]:
    """(training examples, input shape, classes) of a data spec, loaded once per process."""
    from ..config import DataSpec
    from ..data import load_data

    data = load_data(DataSpec.model_validate(json.loads(data_json)), compact=True)
    return len(data.train_y), tuple(data.input_shape), int(data.num_classes)


def check_stage_fits(spec: Any, base_recipe: TrainSpec | None) -> None:
    """The method's own check of its stage (``Method.check``: a strength ramp that needs more steps
    than the stage has, say) with the real steps per epoch, for a study's dry run: the training split
    is loaded once per data spec, and only for a method that defines a check. A stage that cannot
    hold its schedule is then refused before anything is written, not when its runs start."""
    method = get_method(spec.method.name)
    if not method.has_stage or type(method).check is Method.check:
        return
    from ..data import TensorLoader
    from ..models import build_model

    recipe, args = stage_recipe(spec, base_recipe), spec.method.parsed()
    per_round = method.round_schedule(args, base_recipe)[0] if hasattr(method, "round_schedule") else recipe.epochs
    n, shape, classes = _training_split(json.dumps(spec.data.full_json(), sort_keys=True))
    dense = build_model(spec.model.name, shape, classes, seed=0, **spec.model.args)
    ctx = StageContext(prune=spec.prune, seed=derive_seed(spec.seed, "criterion"),
                       steps_per_epoch=TensorLoader.batches(n, recipe.batch_size, min_last=2), input_shape=shape,
                       notes={"layers": len(targets(dense, spec.prune, shape)), "round_epochs": per_round})
    method.check(args, ctx)


def run_stage(spec: Any, base: Path, dense: torch.nn.Module, data: Any, device: torch.device, work: Path,
              base_recipe: TrainSpec | None, progress: bool | None = None) -> tuple[Any, dict[str, Any]]:
    """Train the stage and cut; returns the PruneResult and the stage record (recipe, history, cost)."""
    method, args = get_method(spec.method.name), spec.method.parsed()
    recipe = stage_recipe(spec, base_recipe)
    shape = tuple(data.input_shape)
    batches = (prepared(data, data.train_x[:512]).cpu(), data.train_y[:512].cpu())

    def snapshot(epoch: int) -> dict[str, torch.Tensor]:
        path = base / "snapshots" / f"epoch-{epoch}.safetensors"
        if not path.is_file():
            raise ArtifactError(f"{base}: base model has no snapshot at epoch {epoch} (needed by method {spec.method.name!r})")
        return load_file(str(path))

    per_round = method.round_schedule(args, base_recipe)[0] if hasattr(method, "round_schedule") else recipe.epochs
    ctx = StageContext(prune=spec.prune, seed=derive_seed(spec.seed, "criterion"),
                       steps_per_epoch=steps_per_epoch(data, recipe.batch_size), input_shape=shape,
                       batches=batches, snapshot=snapshot,
                       notes={"layers": len(targets(dense, spec.prune, shape)), "round_epochs": per_round})
    method.check(args, ctx)  # before anything trains or is written
    model = place_model(copy.deepcopy(dense), device, spec.model.channels_last)
    ddata = data.to(device)
    hooks = method.hooks(args, model, ctx)
    extra: list[Any] = [hooks]
    if args.track_jsv:
        extra.append(JSVCallback(jsv_inputs(ddata, spec.jsv_samples, spec.data.split_seed)))
    run = TrainRunSpec(data=spec.data, model=spec.model, train=recipe)
    outcome = run_training(model, ddata, run, run_id=f"{spec.spec_hash()}-stage", work=work, device=device,
                           extra_callbacks=extra, progress=progress, description=f"{spec.method.name} stage")
    record = {
        "method": spec.method.name,
        "recipe": recipe.full_json(),
        "epochs": outcome.epochs_run,
        "lr_schedule": recipe.lr_schedule,
        "lrs": recipe.schedule.lrs(recipe.epochs),
        "compute": sum(int(h.get("macs") or 0) for h in outcome.history),
        "history": outcome.history,
    }
    if outcome.diverged:  # nothing to cut: the run ends diverged in its stage (pipeline/run.py)
        why = outcome.message.removeprefix("diverged: ")
        raise StageDiverged(f"diverged: in the pruning stage of method {spec.method.name!r}, {why}", record)
    model = model.cpu()
    result = method.finish(args, model, hooks, ctx)
    result.plan["method"] = {"name": spec.method.name, "args": dict(spec.method.args)}
    record["final"] = {k: result.report[k] for k in ("params", "macs", "sparsity", "speedup")}
    for key in ("updates", "rounds"):
        if hasattr(hooks, key):
            record[key] = getattr(hooks, key)
    return result, record

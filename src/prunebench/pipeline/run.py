"""One pipeline run: base model -> prune -> reinit -> retrain under a regime -> model directory.

The retraining recipe a regime resolves to is stored in full (``spec.json`` holds the user's spec and
the resolved recipe), and ``result.json`` carries the trainability measurements and the fields the
fairness audit compares.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ..artifacts import check_apart, check_dense_dir, check_output_dir, load_weights, write_model_dir
from ..loading import load_model
from ..config import TrainRunSpec, TrainSpec
from ..errors import ArtifactError, ConfigError
from ..metrics.trainability import convergence_at_first_decay, convergence_curve, trainability_accuracy
from ..rng import derive_seed
from ..train.loop import resolve_device
from ..train.run import partial_dir, place_model, run_training, summarize, train_dense
from .callbacks import JSVCallback, MaskCallback, jsv_inputs
from .fairness_record import base_identity, schedule_fields
from ..pruning.methods.base import get_method
from .regimes import RegimeContext, Resolved, get_regime, norm_drop, resolve, snapshot_epochs
from .spec import PipelineSpec
from .stage import StageDiverged, method_snapshots, run_stage


def base_dir_for(spec: PipelineSpec, root: Path) -> Path:
    """Where the base model of ``spec`` lives: its model directory, or ``root/base-RUNID``."""
    if spec.base.model_dir is not None:
        return Path(spec.base.model_dir)
    run = spec.base_run()
    assert run is not None
    return root / f"base-{run.spec_hash()}"


def train_base(spec: TrainRunSpec, out: Path, snapshots: set[int], progress: bool | None = None,
               device: str | None = None) -> dict[str, Any]:
    """Train a shared base model (with the snapshots the regimes need, e.g. PxFy, weight rewinding)."""
    return train_dense(spec, out, progress=progress, snapshot_epochs=frozenset(snapshots), device=device)


def prepare_base(spec: PipelineSpec, base_root: Path, *, progress: bool | None = None,
                 say: Any = None) -> Path:
    """The base model directory of ``spec``: its ``model_dir`` (checked to exist), or the model its
    pretraining recipe makes, trained into ``base_root`` when it is not there yet (with the
    snapshots the regime needs). ``say`` gets a line before a base is trained."""
    base = base_dir_for(spec, base_root)
    if spec.base.model_dir is not None:
        if not base.is_dir():
            raise ConfigError(f"base.model_dir {base} does not exist")
        check_dense_dir(base, "base.model_dir")
        return base
    run = spec.base_run()
    assert run is not None
    snaps = snapshot_epochs(spec.regime) | method_snapshots(spec)
    done = base / "result.json"
    if done.is_file():
        have = set(json.loads(done.read_text()).get("snapshot_epochs") or ())
        if snaps <= have:
            return base
    if say is not None:
        say(f"training base model {run.spec_hash()} -> {base}")
    train_base(run, base, snaps, progress=progress)
    return base


def _base_identity(spec: PipelineSpec, base: Path) -> str:
    run = spec.base_run()
    if run is not None:
        return run.spec_hash()
    digest = hashlib.sha256((base / "weights.safetensors").read_bytes()).hexdigest()
    return digest[:12]


def _base_recipe(base_spec: dict[str, Any]) -> TrainSpec | None:
    train = base_spec.get("train")
    return TrainSpec.model_validate(train) if isinstance(train, dict) else None


def _snapshot_model(base: Path, dense: torch.nn.Module, epoch: int) -> torch.nn.Module:
    path = base / "snapshots" / f"epoch-{epoch}.safetensors"
    if not path.is_file():
        raise ArtifactError(f"{base}: base model has no snapshot at epoch {epoch} (needed by PxFy / weight rewinding)")
    import copy

    model = copy.deepcopy(dense)
    load_weights(path, model)
    return model


def _weights_at(base: Path, dense: torch.nn.Module, epoch: int | None) -> torch.nn.Module:
    """The dense model with its final weights (``epoch`` None) or those of a base snapshot."""
    return dense if epoch is None else _snapshot_model(base, dense, epoch)


def _score(spec: PipelineSpec, weights: torch.nn.Module, data: Any) -> Any:
    """Score and prune the base model ``weights`` (its final weights or a snapshot's, _weights_at)."""
    from ..pruning import prune

    from ..train.loop import prepared

    batches = (prepared(data, data.train_x[:512]).cpu(), data.train_y[:512].cpu())
    return prune(weights.cpu(), spec.prune, data=batches, seed=derive_seed(spec.seed, "criterion"))


def _kept_weights(result: Any, base: Path, dense: torch.nn.Module, resolved: Resolved) -> torch.nn.Module:
    """The pruned model whose kept weights come from where the regime said: those that were scored,
    or another base epoch's (weight rewinding: scores from the final weights, weights from epoch k)."""
    keep_from = resolved.snapshot_epoch if resolved.start == "snapshot" else None
    if resolved.fresh or keep_from == resolved.score_epoch:
        return result.model
    from ..pruning import apply_filter_plan

    source = _weights_at(base, dense, keep_from)
    if result.masks is None:
        return apply_filter_plan(source, result.plan, check=True)
    return result.masks.attach(result.masks.apply_(source))


def _reinit(spec: PipelineSpec, resolved: Resolved, model: torch.nn.Module) -> str:
    from ..pruning.reinit import apply_reinit

    name = spec.reinit
    if resolved.fresh:
        if name == "orthp":
            raise ConfigError(f"regime {spec.regime.name!r} starts from a fresh init; reinit 'orthp' does not apply (use keep or fresh)")
        name = "fresh"
    apply_reinit(name, model, seed=derive_seed(spec.seed, "reinit"))
    return name


def fairness_fields(spec: PipelineSpec, resolved: Resolved, base_id: str, report: dict[str, Any],
                    base_recipe: TrainSpec | None = None, stage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The columns the comparison-setup audit compares (meanings: pipeline/fairness_record.py).
    ``base_recipe``: the recipe that made the base (read from its model directory when external)."""
    retrain = resolved.retrain
    base_recipe = base_recipe or spec.base.train
    return {
        "dataset": spec.data.name,
        "model": spec.model.name + (json.dumps(spec.model.args, sort_keys=True) if spec.model.args else ""),
        "macs": report["macs"],
        "base": base_identity(base_id, resolved),
        "retrain_epochs": retrain.epochs,
        "retrain_lr": retrain.lr_schedule,
        "batch_size": retrain.batch_size,
        "weight_decay": retrain.weight_decay,
        "momentum": retrain.momentum,
        **schedule_fields(resolved, base_recipe, report["macs"], report["dense_macs"], stage),
    }


def checkpoint_accuracies(dense: torch.nn.Module, pruned: torch.nn.Module, data: Any) -> dict[str, float]:
    """The numbers a reader checks first: the dense base model's test accuracy, the pruned model's
    right after pruning (before re-init and retraining), and chance level (the share of the test set's
    most frequent class: what a model that always answers one class gets)."""
    from ..modes import eval_mode
    from ..train.loop import accuracy, prepare_fn

    prep = prepare_fn(data)
    with torch.no_grad(), eval_mode(dense, pruned):
        out = {"base_acc": accuracy(dense, data.test_x, data.test_y, prepare=prep),
               "pruned_acc": accuracy(pruned, data.test_x, data.test_y, prepare=prep)}
    counts = torch.bincount(data.test_y.cpu(), minlength=data.num_classes)
    out["chance_acc"] = float(counts.max()) / max(1, len(data.test_y))
    return out


def _trainability(history: list[dict[str, Any]], retrain: TrainSpec) -> dict[str, Any]:
    n = retrain.schedule.first_stage_epochs(retrain.epochs)
    out: dict[str, Any] = {"ta_first_stage_epochs": n}
    train_accs = [h["train_acc"] for h in history]
    test_accs = [h["test_acc"] for h in history]
    complete = len(history) >= n > 0
    out["ta_train"] = trainability_accuracy(train_accs, n) if complete else None
    out["ta_test"] = trainability_accuracy(test_accs, n) if complete else None
    decays = retrain.schedule.decay_epochs(retrain.epochs)
    if complete and decays and n >= 2:  # a slope needs two epochs
        split, curve = convergence_curve(history)  # validation (else train) accuracy, never test
        conv = convergence_at_first_decay(curve, n)
        out["converged_at_first_decay"] = not conv["rising"]
        out["convergence_split"] = split
        out["first_stage_slope"] = conv["slope"]
        out["first_stage_slope_lower"] = conv["lower"]
        out["first_stage_slope_test"] = convergence_at_first_decay(test_accs, n)["slope"]  # shown, never decides
        out["first_stage_slope_train"] = convergence_at_first_decay(train_accs, n)["slope"]
    else:
        out["converged_at_first_decay"] = None
    return out


def run_pipeline(spec: PipelineSpec, out: str | Path, *, base_dir: str | Path, progress: bool | None = None,
                 device: str | None = None) -> dict[str, Any]:
    """Run one pipeline whose base model is already in ``base_dir``; write the model directory.
    ``device``: where to retrain instead of the spec's device (a study worker's own GPU)."""
    base = Path(base_dir)
    check_apart(out, [("base model directory", base)])
    check_dense_dir(base)
    out = check_output_dir(out)
    run_id = spec.spec_hash()
    device = resolve_device(device or spec.run_device)
    from ..data import load_data

    data = load_data(spec.data, compact=True)  # 8-bit images stay uint8, normalised per batch
    dense, base_md = load_model(base)
    first = get_regime(spec.regime.name).score_epoch(spec.regime)
    scored = _weights_at(base, dense, first)  # read once: scored, and the reference of the norm drop
    stage = None
    if get_method(spec.method.name).has_stage:  # the method trains, then cuts (pipeline/stage.py)
        began = time.perf_counter()
        try:
            prune_result, stage = run_stage(spec, base, dense, data, device, partial_dir(out) / "stage",
                                            _base_recipe(base_md.spec), progress=progress)
        except StageDiverged as div:
            return _stage_diverged(spec, out, base_md, div, time.perf_counter() - began, str(device))
    else:
        prune_result = _score(spec, scored, data)
    report = dict(prune_result.report)
    ctx = RegimeContext(_base_recipe(base_md.spec), report["dense_macs"], report["macs"], spec.seed,
                        norm_drop=norm_drop(scored, prune_result.model),
                        pruned_fraction=report["sparsity"],  # what the pruning did (ALLR reads it)
                        stage_compute=stage["compute"] if stage else 0)
    resolved = resolve(spec.regime, ctx)
    if resolved.score_epoch != first and stage is None:  # the epoch to score at depends on the pruned MACs (PxFy squeeze)
        prune_result = _score(spec, _weights_at(base, dense, resolved.score_epoch), data)
        report = dict(prune_result.report)
    model = _kept_weights(prune_result, base, dense, resolved)
    checkpoints = checkpoint_accuracies(dense, model, data)
    reinit = _reinit(spec, resolved, model)
    data = data.to(device)
    model = place_model(model, device, spec.model.channels_last)
    masks = prune_result.masks
    extra: list[Any] = [JSVCallback(jsv_inputs(data, spec.jsv_samples, spec.data.split_seed))]
    if masks is not None:
        # A re-init (OrthP, fresh) rewrites masked weights too: masks go back on before anything
        # measures or trains the model, and stay on after every step.
        masks.apply_(model)
        extra.insert(0, MaskCallback(masks))
    run = TrainRunSpec(data=spec.data, model=spec.model, train=resolved.retrain)
    start = time.perf_counter()
    outcome = run_training(model, data, run, run_id=run_id, work=partial_dir(out), device=device,
                           extra_callbacks=extra, progress=progress, description=f"retrain {run_id}")
    result = summarize(outcome, run_id, time.perf_counter() - start, device=str(device))
    if outcome.diverged:
        result["diverged_in"] = "retraining"
    result.update({k: report[k] for k in ("params", "macs", "dense_params", "dense_macs", "sparsity", "speedup")})
    result.update(_trainability(outcome.history, resolved.retrain))
    result["jsv_mean_start"] = outcome.initial.get("jsv_mean")
    result["jsv_mean_end"] = outcome.history[-1].get("jsv_mean") if outcome.history else None
    result["initial"] = outcome.initial
    result.update(checkpoints)
    result["reinit"] = reinit
    result["fairness"] = fairness_fields(spec, resolved, _base_identity(spec, base), report, ctx.base_train, stage)
    stored = {"run_id": run_id, **spec.full_json(), "resolved": {"start": resolved.start, "snapshot_epoch": resolved.snapshot_epoch,
              "score_epoch": resolved.score_epoch, "retrain": resolved.retrain.full_json(),
              "pretrain_epochs": resolved.pretrain_epochs}}
    if resolved.derived:  # numbers the regime computed (ALLR's LR and its inputs)
        stored["resolved"]["derived"] = resolved.derived
        result["regime_derived"] = resolved.derived
    if stage is not None:  # the pruning stage's recipe written out, its epochs in result.json
        stored["resolved"]["stage"] = stage["recipe"]
        result["stage"] = {k: v for k, v in stage.items() if k != "recipe"}
    tensors = {"masks.safetensors": masks.to_tensors()} if masks is not None else None
    write_model_dir(out, model, info=dict(base_md.info), spec=stored, history=outcome.history, result=result,
                    plan=prune_result.plan, tensors=tensors)
    shutil.rmtree(partial_dir(out), ignore_errors=True)
    return result


def _stage_diverged(spec: PipelineSpec, out: Path, base_md: Any, div: StageDiverged, elapsed: float,
                    device: str) -> dict[str, Any]:
    """The model directory of a run whose pruning stage diverged: there is no pruned model, so no
    weights, plan or masks; model.json (the dense base's architecture, so that a re-run may replace
    the directory), spec.json with the stage's resolved recipe, result.json (``diverged``,
    ``diverged_in: "stage"``, the guard's message, the stage's history up to the divergence) and an
    empty history.jsonl (no retraining ran). Written atomically like any model directory."""
    run_id = spec.spec_hash()
    record = dict(div.record)
    recipe = record.pop("recipe")
    result = {"run_id": run_id, "epochs": 0, "test_acc": None, "val_acc": None, "train_acc": None,
              "diverged": True, "diverged_in": "stage", "message": div.message,
              "wall_time_s": round(elapsed, 3), "device": device, "stage": record}
    stored = {"run_id": run_id, **spec.full_json(), "resolved": {"stage": recipe}}
    write_model_dir(out, None, info=dict(base_md.info), spec=stored, history=[], result=result)
    shutil.rmtree(partial_dir(out), ignore_errors=True)
    return result

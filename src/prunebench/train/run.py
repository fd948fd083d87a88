"""``prunebench train``: one dense model from a :class:`TrainRunSpec`, written as a model directory.

A run checkpoints every epoch into a hidden sibling of its output directory (``.NAME.partial``); run
again with the same spec and output, it resumes there. The model directory appears only when the run
is complete.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from ..artifacts import check_output_dir, model_info, write_model_dir
from ..config import TrainRunSpec, check_milestones
from ..rng import derive_seed
from safetensors.torch import load_file

from .callbacks import (
    CheckpointCallback,
    DivergenceGuard,
    EvaluateCallback,
    ProgressCallback,
    SnapshotCallback,
    load_checkpoint,
)
from .loop import Callback, TrainOutcome, make_optimizer, resolve_device, train


def prepare(spec: TrainRunSpec, device: str | None = None) -> tuple[Any, torch.nn.Module, torch.device]:
    """Data on the device and a freshly initialised model for ``spec`` (init from the run seed).
    ``device``: where to run instead of the spec's device (a study worker's own GPU)."""
    from ..data import load_data
    from ..models import build_model

    device = resolve_device(device or spec.train.device)
    data = load_data(spec.data, compact=True).to(device)  # 8-bit images stay uint8, normalised per batch
    model = build_model(
        spec.model.name,
        data.input_shape,
        data.num_classes,
        seed=derive_seed(spec.train.seed, "init"),
        **spec.model.args,
    )
    return data, place_model(model, device, spec.model.channels_last), device


def place_model(model: torch.nn.Module, device: torch.device, channels_last: bool) -> torch.nn.Module:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def run_training(
    model: torch.nn.Module,
    data: Any,
    spec: TrainRunSpec,
    *,
    run_id: str,
    work: Path,
    device: torch.device,
    extra_callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
    description: str = "train",
    initial: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Train with the standard callbacks, resuming from ``work/checkpoint.safetensors`` if it holds
    a checkpoint of this run."""
    ckpt = work / "checkpoint.safetensors"
    resume = load_checkpoint(ckpt, run_id, model, make_optimizer(model, spec.train)) or {}
    if "initial" not in resume:
        resume["initial"] = initial or {}
    callbacks: list[Callback] = [
        DivergenceGuard(),
        EvaluateCallback(),
        *extra_callbacks,
        CheckpointCallback(ckpt, run_id),
        ProgressCallback(description, enabled=progress),
    ]
    return train(model, data, spec.train, callbacks=callbacks, device=device, augment=spec.data.augmentation, **resume)


def summarize(outcome: TrainOutcome, run_id: str, elapsed: float, **extra: Any) -> dict[str, Any]:
    last = outcome.history[-1] if outcome.history else {}
    return {
        "run_id": run_id,
        "epochs": outcome.epochs_run,
        "test_acc": last.get("test_acc"),
        "val_acc": last.get("val_acc"),
        "train_acc": last.get("train_acc"),
        "diverged": outcome.diverged,
        "message": outcome.message,
        "wall_time_s": round(elapsed, 3),
        "precision": outcome.precision,
        **extra,
    }


def train_dense(
    spec: TrainRunSpec,
    out: str | Path,
    *,
    progress: bool | None = None,
    snapshot_epochs: set[int] | frozenset[int] = frozenset(),
    device: str | None = None,
) -> dict[str, Any]:
    """Train the dense model of ``spec`` and write it to ``out``; returns result.json's content.
    ``snapshot_epochs``: keep the weights after these epochs as ``out/snapshots/epoch-K.safetensors``.
    ``device``: where to train instead of the spec's device (the spec, and so the run id, keep it)."""
    check_milestones(spec.train, "training", "train_dense")  # a step past the end is an error
    out = check_output_dir(out)  # before any work: a bad --out fails at once
    run_id = spec.spec_hash()
    data, model, device = prepare(spec, device)
    work = partial_dir(out)
    snapshots = SnapshotCallback(work / "snapshots", snapshot_epochs)
    start = time.perf_counter()
    outcome = run_training(
        model, data, spec, run_id=run_id, work=work, device=device, progress=progress, extra_callbacks=[snapshots]
    )
    params = sum(p.numel() for p in model.parameters())
    result = summarize(outcome, run_id, time.perf_counter() - start, params=params, device=str(device))
    result["snapshot_epochs"] = sorted(e for e in snapshot_epochs if snapshots.path(e).is_file())
    info = model_info(model, data.input_shape, data.num_classes, channels_last=spec.model.channels_last)
    tensors = {f"snapshots/epoch-{e}.safetensors": load_file(str(snapshots.path(e))) for e in result["snapshot_epochs"]}
    write_model_dir(
        out, model, info=info, spec={"run_id": run_id, **spec.full_json()}, history=outcome.history, result=result, tensors=tensors
    )
    shutil.rmtree(work, ignore_errors=True)
    return result

"""Callbacks of the training loop: evaluation, divergence detection, checkpoints, progress."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .loop import Callback, TrainState, accuracy, prepare_fn, prepared


class EvaluateCallback(Callback):
    """Validation and test accuracy of the current model at the end of every epoch. The test number
    is recorded for the learning curve only: no selection ever uses it."""

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        d = state.data
        prep = prepare_fn(d)
        record["val_acc"] = accuracy(state.model, d.val_x, d.val_y, prepare=prep) if len(d.val_y) else None
        record["test_acc"] = accuracy(state.model, d.test_x, d.test_y, prepare=prep)


class DivergenceGuard(Callback):
    """A non-finite training loss, or a model that computes non-finite logits after the epoch's last
    step (whose loss was computed before it), stops the run and marks it diverged."""

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        loss = record["train_loss"]
        if not math.isfinite(loss):
            state.diverged = state.stop = True
            state.message = f"diverged: training loss became {loss} in epoch {record['epoch']} (LR {record['lr']:g})"
            record["train_loss"] = None  # JSON has no NaN
        elif not _finite_outputs(state.model, prepared(state.data, state.data.train_x[:64])):
            state.diverged = state.stop = True
            state.message = f"diverged: the model's outputs became non-finite in epoch {record['epoch']} (LR {record['lr']:g})"


def _finite_outputs(model: torch.nn.Module, x: torch.Tensor) -> bool:
    from ..modes import eval_mode

    if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point()):
        return False
    with eval_mode(model), torch.no_grad():
        return bool(torch.isfinite(model(x)).all())


class CheckpointCallback(Callback):
    """After every epoch, write model + optimizer state + history to one safetensors file
    (temp file + rename), so an interrupted run resumes at its last finished epoch."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key  # the run id: a checkpoint of another spec is never resumed

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        if state.stop:
            return
        tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()}
        for i, pstate in state.optimizer.state_dict()["state"].items():
            for name, value in pstate.items():
                if torch.is_tensor(value):
                    tensors[f"optim/{i}/{name}"] = value.detach().cpu().contiguous()
        meta = {
            "key": self.key,
            "epoch": str(state.epoch),
            "history": json.dumps(state.history + [record]),
            "initial": json.dumps(state.initial),
            "carry": json.dumps(state.carry),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, self.path)


def load_checkpoint(path: str | Path, key: str, model: torch.nn.Module, optimizer_template: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Restore a checkpoint written by :class:`CheckpointCallback` into ``model``; returns the resume
    arguments for :func:`train` (start_epoch, history, optimizer_state, initial), or None when there is
    no usable checkpoint for this run."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        return None
    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(p))
    except Exception:  # a torn or foreign file: start over rather than trust it
        return None
    if meta.get("key") != key:
        return None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    opt_state = optimizer_template.state_dict()
    opt_state["state"] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, idx, field = name.split("/", 2)
            opt_state["state"].setdefault(int(idx), {})[field] = value
    return {
        "start_epoch": int(meta["epoch"]),
        "history": json.loads(meta["history"]),
        "initial": json.loads(meta.get("initial", "{}")),
        "optimizer_state": opt_state,
        "carry": json.loads(meta.get("carry", "{}")),
    }


class ProgressCallback(Callback):
    """A rich progress bar with ETA; silent when output is not a terminal or PRUNEBENCH_PROGRESS=0."""

    def __init__(self, description: str = "training", enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and os.environ.get("PRUNEBENCH_PROGRESS", "1") != "0"
        self.enabled = enabled
        self.description = description
        self._progress = None
        self._task = None

    def on_train_start(self, state: TrainState) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("epoch {task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=state.spec.epochs, completed=state.epoch, info="")

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        if self._progress is not None:
            test = record.get("test_acc")
            info = f"loss {record['train_loss'] or float('nan'):.3f}" + (f" test {test:.2%}" if test is not None else "")
            self._progress.update(self._task, completed=state.epoch, info=info)

    def on_train_end(self, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class SnapshotCallback(Callback):
    """Keep the weights after given epochs (0 = the initial weights) as safetensors files in
    ``directory`` (``epoch-K.safetensors``): PxFy prunes there, weight rewinding resets to them."""

    def __init__(self, directory: str | Path, epochs: set[int] | frozenset[int]) -> None:
        self.directory = Path(directory)
        self.epochs = frozenset(epochs)

    def path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch}.safetensors"

    def _save(self, state: TrainState, epoch: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path(epoch).with_suffix(".tmp")
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()}
        save_file(tensors, str(tmp))
        os.replace(tmp, self.path(epoch))

    def on_train_start(self, state: TrainState) -> None:
        if 0 in self.epochs and state.epoch == 0:
            self._save(state, 0)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        if state.epoch in self.epochs and not state.diverged:
            self._save(state, state.epoch)

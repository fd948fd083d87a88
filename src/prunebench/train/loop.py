"""The training loop. It is closed: it runs epochs of SGD with the spec's per-epoch LR and hands
every other behaviour (evaluation, divergence detection, checkpoints, masks, JSV tracking, progress)
to callbacks.

Randomness: the order of epoch ``e`` comes from ``generator(seed, f"order/{e}")`` and its augmentation
from ``generator(seed, f"augment/{e}")``, so a run resumed at epoch ``e`` replays exactly the stream an
uninterrupted run would have used, with no generator state to save.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ..config import TrainSpec
from ..devices import autocast, precision, resolve_device
from ..rng import generator


@dataclass
class TrainState:
    """What callbacks see and may change (``stop``, ``diverged``, ``message``)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    spec: TrainSpec
    data: Any  # prunebench.data.DataBundle, already on ``device``
    device: torch.device
    lrs: list[float]
    iteration_lrs: list[float] | None = None  # a per-iteration schedule: the LR of every step
    epoch: int = 0  # epochs completed so far
    history: list[dict[str, Any]] = field(default_factory=list)
    initial: dict[str, Any] = field(default_factory=dict)  # measurements before the first epoch
    step: int = 0  # optimizer steps completed so far (a pruning stage's iteration count)
    carry: dict[str, Any] = field(default_factory=dict)  # callbacks' JSON state, kept in the checkpoint
    augment: bool | str = True  # true: the data set's default; false: none; or an augmentation's name
    stop: bool = False
    diverged: bool = False
    message: str | None = None


@dataclass
class TrainOutcome:
    history: list[dict[str, Any]]
    initial: dict[str, Any]
    diverged: bool
    message: str | None
    epochs_run: int
    precision: dict[str, Any] = field(default_factory=dict)  # the flags in force (devices.precision_flags)


class Callback:
    """Hooks of the loop; each is a no-op unless overridden."""

    def on_train_start(self, state: TrainState) -> None: ...

    def penalty(self, state: TrainState) -> torch.Tensor | None:
        """A term added to this step's loss (a pruning stage's regulariser), or None."""
        return None

    def on_after_backward(self, state: TrainState) -> None:
        """After backward, before the optimizer step: a penalty added to the gradients."""

    def on_step_end(self, state: TrainState) -> None: ...

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


def make_optimizer(model: torch.nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(),
        lr=spec.schedule.initial_lr,
        momentum=spec.momentum,
        nesterov=spec.nesterov and spec.momentum > 0,
        weight_decay=spec.weight_decay,
    )


def _run_epoch(state: TrainState, callbacks: Sequence[Callback]) -> dict[str, Any]:
    from ..config import resolve_augmentation
    from ..data import TensorLoader
    from ..data.augment import augmentation_named

    spec, data, e = state.spec, state.data, state.epoch
    lr = state.lrs[e]
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    loader = TensorLoader(
        data.train_x,
        data.train_y,
        spec.batch_size,
        shuffle=True,
        generator=generator(spec.seed, f"order/{e}"),
        # ``augment``: a name (a spec's resolved ``augmentation``), or true for the data set's default.
        augment=augmentation_named(resolve_augmentation(data.name, state.augment, tuple(data.input_shape)), data.kind),
        aug_generator=generator(spec.seed, f"augment/{e}", data.train_x.device),
        min_last=2,
        transform=prepare_fn(data),
    )
    model = state.model
    model.train()
    loss_sum = torch.zeros((), device=state.device, dtype=torch.float64)
    correct = torch.zeros((), device=state.device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    steps = state.iteration_lrs[e * len(loader): (e + 1) * len(loader)] if state.iteration_lrs is not None else None
    for b, (xb, yb) in enumerate(loader):
        if steps is not None:
            for group in state.optimizer.param_groups:
                group["lr"] = steps[b]
        with autocast(spec.autocast, state.device):  # the forward pass only; evaluation stays FP32
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
        total = loss
        for cb in callbacks:  # penalties (a pruning stage's regulariser) in full precision
            extra = cb.penalty(state)
            if extra is not None:
                total = total + extra
        state.optimizer.zero_grad(set_to_none=True)
        total.backward()
        for cb in callbacks:
            cb.on_after_backward(state)
        state.optimizer.step()
        state.step += 1
        for cb in callbacks:
            cb.on_step_end(state)
        loss_sum += loss.detach().double() * yb.numel()
        correct += (logits.detach().argmax(1) == yb).sum()
        seen += yb.numel()
    record = {
        "epoch": e + 1,
        "lr": lr,
        "train_loss": float(loss_sum) / max(seen, 1),
        "train_acc": int(correct) / max(seen, 1),
        "time_s": time.perf_counter() - start,
    }
    if steps:  # the LRs this epoch actually stepped with (first one is "lr")
        record.update(lr_last=steps[-1], lr_mean=sum(steps) / len(steps))
    return record


def steps_per_epoch(data: Any, batch_size: int) -> int:
    """Optimizer steps in one epoch (the loader's batches, a short last batch merged as it does)."""
    from ..data import TensorLoader

    return len(TensorLoader(data.train_x, data.train_y, batch_size, min_last=2))


def train(
    model: torch.nn.Module,
    data: Any,
    spec: TrainSpec,
    *,
    callbacks: Sequence[Callback] = (),
    device: torch.device | str | None = None,
    start_epoch: int = 0,
    history: list[dict[str, Any]] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    initial: dict[str, Any] | None = None,
    augment: bool | str = True,
    carry: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Train ``model`` in place for ``spec.epochs`` epochs (from ``start_epoch`` when resuming)."""
    device = torch.device(device) if device is not None else resolve_device(spec.device)
    optimizer = make_optimizer(model, spec)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    schedule = spec.schedule
    spe = steps_per_epoch(data, spec.batch_size) if schedule.per_iteration else 1
    state = TrainState(
        model=model,
        optimizer=optimizer,
        spec=spec,
        data=data,
        device=device,
        lrs=schedule.lrs(spec.epochs, spe),
        iteration_lrs=schedule.iteration_lrs(spec.epochs, spe) if schedule.per_iteration else None,
        epoch=start_epoch,
        history=list(history or []),
        initial=dict(initial or {}),
        augment=augment,
        step=start_epoch * steps_per_epoch(data, spec.batch_size),
        carry=dict(carry or {}),
    )
    autocast(spec.autocast, device)  # refused here, before the first epoch, where it cannot run
    with precision(spec.deterministic, spec.tf32) as flags:
        for cb in callbacks:
            cb.on_train_start(state)
        while state.epoch < spec.epochs and not state.stop:
            record = _run_epoch(state, callbacks)
            state.epoch += 1
            for cb in callbacks:
                cb.on_epoch_end(state, record)
            state.history.append(record)
        for cb in callbacks:
            cb.on_train_end(state)
    flags = {**flags, "autocast": spec.autocast}
    return TrainOutcome(state.history, state.initial, state.diverged, state.message, state.epoch, flags)


def prepare_fn(data: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The data's per-batch input preparation (``DataBundle.prepare``), None for data without one."""
    return getattr(data, "prepare", None)


def prepared(data: Any, x: torch.Tensor) -> torch.Tensor:
    """Model inputs for stored inputs ``x`` of ``data`` (a slice of its train_x/val_x/test_x)."""
    prep = prepare_fn(data)
    return prep(x) if prep is not None else x


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000, *,
             prepare: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """Total correct / total examples, in eval mode (the model's mode is restored). ``prepare`` turns
    stored inputs into model inputs chunk by chunk (``DataBundle.prepare`` for uint8 storage)."""
    if len(y) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        xb = x[i : i + batch_size]
        xb = prepare(xb) if prepare is not None else xb
        correct += int((model(xb).argmax(1) == y[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / len(y)

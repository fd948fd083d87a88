"""Callbacks the pipeline adds to the training loop: JSV tracking and mask enforcement."""
from __future__ import annotations

from typing import Any

import torch

from ..metrics.trainability import jsv_stats
from ..rng import generator
from ..train.loop import Callback, TrainState, prepared

JSV_KEYS = ("mean", "std", "min", "max", "cond", "dev")


def jsv_inputs(data: Any, n: int, split_seed: int) -> torch.Tensor:
    """A fixed subset of ``n`` training inputs, the same for every arm and run of a data spec."""
    n = min(n, len(data.train_y))
    order = torch.randperm(len(data.train_y), generator=generator(split_seed, "jsv-inputs"))
    return prepared(data, data.train_x[order[:n].to(data.train_x.device)])


def jsv_record(model: torch.nn.Module, inputs: torch.Tensor) -> dict[str, float]:
    stats = jsv_stats(model, inputs)
    return {f"jsv_{k}": stats[k] for k in JSV_KEYS}


class JSVCallback(Callback):
    """Mean JSV (and its spread) of the input-output Jacobian on a fixed set of training inputs,
    right before retraining (``initial``) and after every epoch (the history)."""

    def __init__(self, inputs: torch.Tensor) -> None:
        self.inputs = inputs

    def on_train_start(self, state: TrainState) -> None:
        if state.epoch == 0 and "jsv_mean" not in state.initial and len(self.inputs):
            state.initial.update(jsv_record(state.model, self.inputs))

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        if len(self.inputs) and not state.diverged:
            record.update(jsv_record(state.model, self.inputs))


class MaskCallback(Callback):
    """Unstructured pruning: masked weights are set back to exactly zero after every optimizer step
    (so momentum and weight decay cannot revive them)."""

    def __init__(self, masks: Any) -> None:
        self.masks = masks

    def on_train_start(self, state: TrainState) -> None:
        self.masks.apply_(state.model)

    def on_step_end(self, state: TrainState) -> None:
        self.masks.apply_(state.model)

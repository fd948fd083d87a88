"""Temporarily switching models to eval mode without losing a caller's per-module modes."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Eval mode inside the block (BatchNorm on running statistics, dropout off); afterwards every
    submodule gets back the mode it had — a caller may hold a model with mixed train/eval parts, which
    ``model.train(flag)`` would flatten."""
    modes = [(m, m.training) for model in models for m in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training

"""Initialisation helpers shared by the zoo's ``reset_parameters`` methods.

Each helper reads the *current* tensor shapes, so calling it on a pruned (smaller) model gives
the default init of that smaller architecture, which is what scratch training needs.
"""
from __future__ import annotations

from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d)


def reset_norms(model: nn.Module) -> None:
    """BatchNorm: weight 1, bias 0, running statistics cleared."""
    for m in model.modules():
        if isinstance(m, _NORM):
            m.reset_parameters()


def kaiming_convs(model: nn.Module, mode: str) -> None:
    """Kaiming-normal (ReLU gain) conv weights with fan taken from the weight tensor; zero biases."""
    for m in model.modules():
        if isinstance(m, _CONV):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def kaiming_linears(model: nn.Module) -> None:
    """Kaiming-normal (fan-in) Linear weights, zero biases: the usual CIFAR-ResNet classifier init."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)


def normal_linears(model: nn.Module, std: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


def torch_default(model: nn.Module, kinds: tuple[type, ...]) -> None:
    """PyTorch's own layer init (Kaiming-uniform with a = sqrt(5), bias from fan-in)."""
    for m in model.modules():
        if isinstance(m, kinds):
            m.reset_parameters()

"""Fully connected networks: the linear MLP of the trainability studies and its ReLU twin."""
from __future__ import annotations

import math

import torch
from torch import nn

from . import init
from .zoo import choice, positive_int, register_model

MNIST1D_SHAPE = (1, 40)


class MLP(nn.Module):
    """``depth`` Linear layers in ``self.layers``; the activation sits between layers, never after
    the last one, and "linear" means none at all (the end-to-end map is then one matrix)."""

    def __init__(self, in_features: int, num_classes: int, depth: int, width: int, activation: str) -> None:
        super().__init__()
        sizes = [in_features] + [width] * (depth - 1) + [num_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last and self.activation == "relu":
                x = torch.relu(x)
        return x

    def reset_parameters(self) -> None:
        # The trainability experiments use PyTorch's default Linear init, not an orthogonal one.
        init.torch_default(self, (nn.Linear,))


def _mlp(name: str, input_shape, num_classes: int, depth: int, width: int, activation: str) -> MLP:
    choice(name, "activation", activation, ("linear", "relu"))
    positive_int(name, "depth", depth)
    positive_int(name, "width", width)
    return MLP(math.prod(input_shape), num_classes, depth, width, activation)


@register_model(
    "mlp", family="mlp", input_shape=MNIST1D_SHAPE, num_classes=10,
    description="MLP with args depth (Linear layers), width, activation 'linear'|'relu'",
)
def mlp(input_shape, num_classes, depth: int = 7, width: int = 100, activation: str = "relu") -> MLP:
    return _mlp("mlp", input_shape, num_classes, depth, width, activation)


@register_model(
    "mlp7-linear", family="mlp", input_shape=MNIST1D_SHAPE, num_classes=10,
    description="7 Linear layers of width 100, no activation (trainability / OrthP studies)",
)
def mlp7_linear(input_shape, num_classes) -> MLP:
    return _mlp("mlp7-linear", input_shape, num_classes, 7, 100, "linear")


@register_model(
    "mlp7-relu", family="mlp", input_shape=MNIST1D_SHAPE, num_classes=10,
    description="7 Linear layers of width 100 with ReLU between them",
)
def mlp7_relu(input_shape, num_classes) -> MLP:
    return _mlp("mlp7-relu", input_shape, num_classes, 7, 100, "relu")

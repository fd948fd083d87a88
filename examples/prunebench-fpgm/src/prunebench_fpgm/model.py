"""A small residual 1D CNN for MNIST-1D (1 x 40 signals), written without prunebench's zoo.

It is registered with the generic layer convention: prunebench finds from the dependency graph that
``stem`` and ``block.conv2`` are coupled by the residual sum (pruned only together, when named), that
``block.conv1`` can be pruned alone, and that ``head`` is the output layer.
"""
import torch
from torch import nn

import prunebench


class Block(nn.Module):
    def __init__(self, width: int, inner: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, inner, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm1d(inner)
        self.conv2 = nn.Conv1d(inner, width, 5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class TinyRes1D(nn.Module):
    def __init__(self, in_channels: int, classes: int, width: int, inner: int) -> None:
        super().__init__()
        self.stem = nn.Conv1d(in_channels, width, 5, padding=2, bias=False)
        self.bn = nn.BatchNorm1d(width)
        self.block = Block(width, inner)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(torch.relu(self.bn(self.stem(x))))
        return self.head(x.mean(dim=2))


def init_from(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Kaiming-normal convolutions, unit BatchNorm, a small uniform head: all drawn from ``generator``."""
    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -0.1, 0.1, generator=generator)
            nn.init.zeros_(m.bias)
    return model


@prunebench.register_model("tinyres1d", input_shape=(1, 40), num_classes=10,
                           description="a residual 1D CNN (stem, one residual block, linear head) from the FPGM example plug-in")
def tinyres1d(input_shape, num_classes, *, generator: torch.Generator, width: int = 16, inner: int = 32) -> nn.Module:
    return init_from(TinyRes1D(input_shape[0], num_classes, width, inner), generator)

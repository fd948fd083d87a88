"""LeNet-5 in its common modern form: ReLU and max pooling, 'same' padding on the first conv."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import init
from .zoo import register_model
from ..errors import ConfigError


class LeNet5(nn.Module):
    """conv1 (6, 5x5, pad 2) -> pool -> conv2 (16, 5x5) -> pool -> fc1 120 -> fc2 84 -> fc3.

    On 28x28 MNIST the flattened features are 16 x 5 x 5 = 400, as in the classic 32x32 LeNet-5."""

    def __init__(self, in_channels: int, height: int, width: int, num_classes: int) -> None:
        super().__init__()
        h, w = _feature_size(height), _feature_size(width)
        if h < 1 or w < 1:
            raise ConfigError(f"model 'lenet5': input {height}x{width} is too small (needs at least 12x12)")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * h * w, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(x.flatten(1)))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)

    def reset_parameters(self) -> None:
        init.torch_default(self, (nn.Conv2d, nn.Linear))


def _feature_size(n: int) -> int:
    # conv1 keeps the size (pad 2), pool halves it, conv2 (5x5, no pad) takes 4, pool halves again.
    return (n // 2 - 4) // 2


@register_model(
    "lenet5", family="lenet", input_shape=(1, 28, 28), num_classes=10,
    description="LeNet-5 (ReLU, max pooling; 61,706 parameters on MNIST)",
)
def lenet5(input_shape, num_classes) -> LeNet5:
    c, h, w = input_shape
    return LeNet5(c, h, w, num_classes)

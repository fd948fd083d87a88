"""CIFAR ResNets (He et al. 2016, section 4.2): 6n+2 layers, three stages of 16/32/64 channels.

Shortcut option A is parameter-free (subsample by the stride, zero-pad the new channels); option B
projects with a 1x1 conv + BN. Both are identities where the block keeps shape.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import init
from .zoo import choice, register_model

CIFAR_SHAPE = (3, 32, 32)
STAGE_WIDTHS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Option A: keep every ``stride``-th pixel and zero-pad channels up to ``out_channels``.

    Only tensor ops with constant arguments, so torch.fx and Torch-Pruning's tracer pass through it;
    the channel counts are fixed ints because pruning never touches a residual stream's width.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - self.in_channels
        # Split the padding evenly between both ends, like the original Torch implementation.
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride == 1 and in_planes == planes:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = PadShortcut(in_planes, planes, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, in_channels: int, num_classes: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        in_planes = STAGE_WIDTHS[0]
        for i, planes in enumerate(STAGE_WIDTHS):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(blocks_per_stage):
                blocks.append(BasicBlock(in_planes, planes, stride if j == 0 else 1, shortcut))
                in_planes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))

    def reset_parameters(self) -> None:
        # The customary CIFAR-ResNet init: Kaiming-normal fan-in for convs and the classifier.
        init.kaiming_convs(self, mode="fan_in")
        init.kaiming_linears(self)
        init.reset_norms(self)


def _register(depth: int) -> None:
    n = (depth - 2) // 6
    name = f"resnet{depth}"

    @register_model(
        name, family="resnet_cifar", input_shape=CIFAR_SHAPE, num_classes=10,
        description=f"CIFAR ResNet-{depth} ({n} basic blocks per stage); arg shortcut 'A' (default) | 'B'",
    )
    def build(input_shape, num_classes, shortcut: str = "A") -> CifarResNet:
        choice(name, "shortcut", shortcut, ("A", "B"))
        return CifarResNet(n, input_shape[0], num_classes, shortcut)


for _depth in (20, 32, 44, 56, 110):
    _register(_depth)

"""VGG with BatchNorm for CIFAR, in the two variants the pruning literature uses.

Both drop the last max pool and average-pool the final 2x2 map instead (on 32x32 inputs), so the
classifier sees 512 features. ``classifier="li"`` is the Li et al. 2017 / Liu et al. 2019 VGG-16:
Linear(512, 512) -> BatchNorm1d -> ReLU -> Linear(512, classes); ``"single"`` is the network-slimming
VGG (used for VGG-19 on CIFAR-100): one Linear(512, classes).
"""
from __future__ import annotations

import torch
from torch import nn

from . import init
from ..errors import ConfigError
from .zoo import choice, register_model

CIFAR_SHAPE = (3, 32, 32)
M = "M"  # a 2x2 max pool in a configuration list

CONFIGS = {
    11: [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512],
    13: [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512],
    16: [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512],
    19: [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512],
}
DEFAULT_CLASSIFIER = {11: "single", 13: "single", 16: "li", 19: "single"}


class VGG(nn.Module):
    def __init__(self, config: list, in_channels: int, num_classes: int, classifier: str) -> None:
        super().__init__()
        self.features = _features(config, in_channels)
        width = [c for c in config if c != M][-1]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        if classifier == "li":
            self.classifier: nn.Module = nn.Sequential(
                nn.Linear(width, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, num_classes)
            )
        else:
            self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))

    def reset_parameters(self) -> None:
        # As in the VGG code of Liu et al.: N(0, 2/fan_out) convs, N(0, 0.01) linears, BN 1/0.
        init.kaiming_convs(self, mode="fan_out")
        init.normal_linears(self, std=0.01)
        init.reset_norms(self)


def _features(config: list, in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for v in config:
        if v == M:
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(in_channels, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


def _register(depth: int) -> None:
    name = f"vgg{depth}"
    default = DEFAULT_CLASSIFIER[depth]

    @register_model(
        name, family="vgg", input_shape=CIFAR_SHAPE, num_classes=10,
        description=f"CIFAR VGG-{depth} with BN; arg classifier 'li' | 'single' (default {default!r})",
    )
    def build(input_shape, num_classes, classifier: str = default) -> VGG:
        choice(name, "classifier", classifier, ("li", "single"))
        side = 2 ** CONFIGS[depth].count(M)  # each 2x2 max pool halves the image
        if min(input_shape[1:]) < side:
            raise ConfigError(f"model {name!r}: input {input_shape[1]}x{input_shape[2]} is too small (needs at least {side}x{side})")
        return VGG(CONFIGS[depth], input_shape[0], num_classes, classifier)


for _depth in CONFIGS:
    _register(_depth)

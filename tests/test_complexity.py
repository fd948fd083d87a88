"""Params and MACs counted with hooks, on hand-checkable layers."""
import torch
from torch import nn

from prunebench.metrics.complexity import count, effective, sparsity, speedup
from prunebench.models import build_model


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)  # 3x5x5 outputs, 2*9 MACs each
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(75, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def test_hand_counts():
    model = Tiny()
    comp = count(model, (2, 5, 5))
    conv, fc = comp.layers
    assert (conv.name, conv.macs, conv.params, conv.output_shape) == ("conv", 75 * 18, 3 * 18 + 3, (3, 5, 5))
    assert (fc.name, fc.macs, fc.params, fc.in_width, fc.out_width) == ("fc", 300, 304, 75, 4)
    assert comp.macs == 1350 + 300
    assert comp.params == 57 + 6 + 304 and comp.layer_params == 57 + 304  # BN counts in params only
    assert model.training  # mode restored


def test_grouped_conv_and_1d():
    conv = nn.Sequential(nn.Conv1d(4, 8, 3, groups=2))
    assert count(conv, (4, 10)).macs == 8 * 8 * (2 * 3)


def test_known_models():
    assert count(build_model("lenet5", seed=0), (1, 28, 28)).params == 61706
    comp = count(build_model("resnet56", seed=0), (3, 32, 32))
    assert comp.params == 853018 and comp.macs == 125485696  # Li et al.: 8.5e5, 1.25e8


def test_effective_sparsity_speedup():
    comp = count(Tiny(), (2, 5, 5))
    params, macs = effective(comp, {"conv": (27, 54)})
    assert params == comp.params - 27 and macs == 675 + 300
    assert sparsity(75, 100) == 0.25 and speedup(200, 50) == 4.0

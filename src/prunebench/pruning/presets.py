"""Named pruning specs: the pruned architectures of Li et al. 2017, "Pruning Filters for Efficient
ConvNets" (L1-norm filter pruning, one shot).

Li et al. number layers from 1 at the stem conv, counting the convs of the residual path only; the
first conv of residual block j (blocks counted from 0 across the whole net) is their layer 2+2j.
Our layer indices start at 0 and skip shortcut convs the same way, so their layer k is our k-1.
Published sizes (their "FLOPs" are conv+fc MACs), checked in tests/test_prune_presets.py:
  ResNet-56-pruned-A 7.7e5 params 1.12e8 MACs;  ResNet-56-pruned-B 7.3e5, 9.09e7
  ResNet-110-pruned-A 1.68e6, 2.13e8;           ResNet-110-pruned-B 1.16e6, 1.55e8
  VGG-16-pruned-A 5.4e6, 2.06e8;                 ResNet-34-pruned-A 1.99e7, 3.08e9;  -B 1.93e7, 2.76e9
"""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import PRESETS
from .spec import PruneSpec


@dataclass(frozen=True)
class Preset:
    spec: PruneSpec
    models: tuple[str, ...]  # the zoo models whose layer numbering the preset is written for
    description: str




def _li(number: int) -> int:
    """Li et al.'s 1-based layer number -> our 0-based index."""
    return number - 1


def _add(name: str, models: tuple[str, ...], description: str, ratio, skip_li: tuple[int, ...] = ()) -> None:
    spec = PruneSpec(ratio=ratio, criterion="l1", skip=[_li(k) for k in skip_li], preset=name)
    PRESETS.add(name, Preset(spec, models, description), models=models, description=description)


_add("li-resnet56-a", ("resnet56",), "ResNet-56-pruned-A: 10% in stages 1-3, skip layers 16, 20, 38, 54",
     [0, 0.1, 0.1, 0.1, 0], (16, 20, 38, 54))
_add("li-resnet56-b", ("resnet56",), "ResNet-56-pruned-B: 60/30/10% in stages 1/2/3, skip layers 16, 18, 20, 34, 38, 54",
     [0, 0.6, 0.3, 0.1, 0], (16, 18, 20, 34, 38, 54))
_add("li-resnet110-a", ("resnet110",), "ResNet-110-pruned-A: 50% in stage 1, skip layer 36",
     [0, 0.5, 0, 0, 0], (36,))
_add("li-resnet110-b", ("resnet110",), "ResNet-110-pruned-B: 50/40/30% in stages 1/2/3, skip layers 36, 38, 74",
     [0, 0.5, 0.4, 0.3, 0], (36, 38, 74))
# VGG-16 (Li classifier 512 -> 512 -> classes): conv_1 and conv_8 ... conv_13 lose half their filters.
_add("li-vgg16-a", ("vgg16",), "VGG-16-pruned-A: 50% of conv_1 and conv_8 to conv_13",
     "0:0.5,7-12:0.5")
# ResNet-34: first conv of each block; Li et al. skip the sensitive layers 2, 8, 14, 16, 26, 28, 30,
# 32 (the first block of every stage and the last block of stages 2 and 3; stage 4 is never pruned).
_RESNET34_SKIP = (2, 8, 14, 16, 26, 28, 30, 32)
_add("li-resnet34-a", ("resnet34",), "ResNet-34-pruned-A: 30/30/30/0% in stages 1-4, skip layers 2, 8, 14, 16, 26-32",
     [0, 0.3, 0.3, 0.3, 0, 0], _RESNET34_SKIP)
_add("li-resnet34-b", ("resnet34",), "ResNet-34-pruned-B: 50/60/40/0% in stages 1-4, skip layers 2, 8, 14, 16, 26-32",
     [0, 0.5, 0.6, 0.4, 0, 0], _RESNET34_SKIP)

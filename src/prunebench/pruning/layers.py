"""Which Conv/Linear layers a model has, how ratio specs number them, and which may be pruned.

Numbering: the model's Conv/Linear layers in forward order, from 0, *leaving out* residual side
branches (ResNet ``shortcut``/``downsample`` convs). So index i is Li et al.'s "layer i+1" (they
number from 1 at the stem and do not count projection shortcuts), a CIFAR ResNet numbers the same with
shortcut option A or B, and an MLP's output layer is the last index (``[0-5:0.8, 6:0]`` on a
7-layer MLP). Side convs have no number; patterns still reach them by name.

Roles (filter granularity), from the classic conventions, one table row per model family:
- ``default``: pruned by a uniform ratio or a stage list;
- ``explicit``: may be pruned when an index range or a pattern names it (VGG's first conv, which
  Li et al.'s VGG-16-pruned-A prunes, but the usual convention leaves alone);
- ``never``: a non-zero ratio on it is an error (classifier / output layer, ResNet stem, the second
  conv of a basic block and the last of a bottleneck, whose outputs feed the residual sum, and the
  shortcut/downsample convs).
Weight granularity (masks) has no coupling constraints: every Conv/Linear layer is ``default``
except the classifier, which is ``explicit`` (masking the output layer is allowed when asked for).
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Callable

from torch import nn

from ..errors import PruneError
from ..metrics.complexity import COUNTED, Complexity

SIDE_PATTERNS = ("*shortcut*", "*downsample*")


@dataclass(frozen=True)
class Layer:
    name: str
    index: int | None  # position in the ratio-spec numbering; None for side-branch convs
    kind: str  # "conv" | "linear"
    width: int  # output channels / features
    role: str  # "default" | "explicit" | "never"
    stage: int | None  # ResNets: 0 stem, 1..S stages, S+1 classifier; otherwise None


Predicate = Callable[[str, nn.Module], bool]


def _everything(name: str, model: nn.Module) -> bool:
    return True


def _features(name: str, model: nn.Module) -> bool:
    return name.startswith("features.")


def _block_first(name: str, model: nn.Module) -> bool:
    return fnmatch(name, "layer*.*.conv1")


def _bottleneck_inner(name: str, model: nn.Module) -> bool:
    if fnmatch(name, "layer*.*.conv1"):
        return True
    if fnmatch(name, "layer*.*.conv2"):
        return hasattr(model.get_submodule(name.rsplit(".", 1)[0]), "conv3")
    return False


@dataclass(frozen=True)
class Convention:
    default: Predicate  # filter-pruned by uniform ratios (the classifier is excluded regardless)
    first: str  # role of the first numbered layer when `default` picks it: "default" | "explicit" | "never"
    stages: bool  # per-stage ratio lists apply (ResNets)
    probe_size: int | None = None  # cap on H, W for structural probing forwards (not for counting)


#: Classic filter-pruning conventions by model family (paper-notes section 6).
CONVENTIONS: dict[str, Convention] = {
    "mlp": Convention(default=_everything, first="default", stages=False),
    "cnn1d": Convention(default=_everything, first="default", stages=False),
    "lenet": Convention(default=_everything, first="default", stages=False),
    "vgg": Convention(default=_features, first="explicit", stages=False),
    "resnet_cifar": Convention(default=_block_first, first="never", stages=True),
    "resnet_imagenet": Convention(default=_bottleneck_inner, first="never", stages=True, probe_size=64),
}


def family_of(model: nn.Module) -> str:
    from ..models import model_info

    name = getattr(model, "zoo_name", None)
    if name is None:
        raise PruneError(f"{type(model).__name__} is not a zoo model (no zoo_name); build it with prunebench.models.build_model")
    return model_info(name)["family"]


def input_shape_of(model: nn.Module) -> tuple[int, ...]:
    args = getattr(model, "zoo_args", None) or {}
    if "input_shape" not in args:
        from ..models import model_info

        return tuple(model_info(model.zoo_name)["input_shape"])
    return tuple(int(s) for s in args["input_shape"])


def probe_shape(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The input shape for structural forwards (tracing, checks): the real one, except that
    ImageNet ResNets (global average pooling) are probed at 64x64 to keep it cheap."""
    cap = CONVENTIONS[family_of(model)].probe_size
    if cap is None or len(input_shape) < 3:
        return tuple(input_shape)
    return (input_shape[0], *(min(s, cap) for s in input_shape[1:]))


def _stage(name: str, is_last: bool, n_stages: int) -> int:
    if is_last:
        return n_stages + 1
    head = name.split(".", 1)[0]
    if head.startswith("layer") and head[5:].isdigit():
        return int(head[5:])
    return 0


def discover(model: nn.Module, comp: Complexity, granularity: str = "filter") -> list[Layer]:
    """The Conv/Linear layers of ``model`` in forward order (from a complexity count), with roles."""
    conv = CONVENTIONS[family_of(model)]
    seen: set[str] = set()
    ordered = []
    for c in comp.layers:
        if c.name not in seen and isinstance(model.get_submodule(c.name), COUNTED):
            seen.add(c.name)
            ordered.append(c)
    n_stages = sum(1 for n, _ in model.named_children() if n.startswith("layer") and n[5:].isdigit())
    layers, index = [], 0
    for pos, c in enumerate(ordered):
        side = any(fnmatch(c.name, p) for p in SIDE_PATTERNS)
        is_last = pos == len(ordered) - 1
        role = _role(c.name, model, conv, granularity, side=side, is_last=is_last, is_first=index == 0 and not side)
        stage = _stage(c.name, is_last, n_stages) if conv.stages else None
        layers.append(Layer(c.name, None if side else index, c.kind, c.out_width, role, stage))
        index += 0 if side else 1
    return layers


def _role(name: str, model: nn.Module, conv: Convention, granularity: str, *, side: bool, is_last: bool, is_first: bool) -> str:
    if granularity == "weight":
        return "explicit" if is_last else "default"
    if side or is_last or not conv.default(name, model):
        return "never"
    return conv.first if is_first else "default"

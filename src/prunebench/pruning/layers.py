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
from .structured import coupled_roots

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


GENERIC = "generic"

#: Classic filter-pruning conventions by model family (paper-notes section 6); any other model
#: (``generic``) gets its roles from the dependency graph (see ``_generic_layers``).
CONVENTIONS: dict[str, Convention] = {
    "mlp": Convention(default=_everything, first="default", stages=False),
    "cnn1d": Convention(default=_everything, first="default", stages=False),
    "lenet": Convention(default=_everything, first="default", stages=False),
    "vgg": Convention(default=_features, first="explicit", stages=False),
    "resnet_cifar": Convention(default=_block_first, first="never", stages=True),
    "resnet_imagenet": Convention(default=_bottleneck_inner, first="never", stages=True, probe_size=64),
}


def family_of(model: nn.Module) -> str:
    """The layer convention of ``model``: its registered family, or ``generic`` for any module the
    registry did not build (and for registered models that declare none)."""
    family = getattr(model, "zoo_family", None)
    if family is None and getattr(model, "zoo_name", None) is not None:
        from ..registry import MODELS

        family = MODELS.meta(model.zoo_name)["family"] if model.zoo_name in MODELS else None
    return family if family in CONVENTIONS else GENERIC


def model_label(model: nn.Module) -> str:
    """How messages name a model: its registry name, else its class's full import path."""
    return getattr(model, "zoo_name", None) or class_path(model)


def class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def input_shape_of(model: nn.Module) -> tuple[int, ...]:
    args = getattr(model, "zoo_args", None) or {}
    if "input_shape" in args:
        return tuple(int(s) for s in args["input_shape"])
    if getattr(model, "zoo_name", None) is not None:
        from ..registry import MODELS

        return tuple(MODELS.meta(model.zoo_name)["input_shape"])
    raise PruneError(f"{class_path(model)} was not built by prunebench: pass input_shape= (one example's shape, e.g. (3, 32, 32))")


def probe_shape(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The input shape for structural forwards (tracing, checks): the real one, except that
    ImageNet ResNets (global average pooling) are probed at 64x64 to keep it cheap."""
    family = family_of(model)
    cap = CONVENTIONS[family].probe_size if family != GENERIC else None
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


def discover(model: nn.Module, comp: Complexity, granularity: str = "filter",
             shape: tuple[int, ...] | None = None) -> list[Layer]:
    """The Conv/Linear layers of ``model`` in forward order (from a complexity count), with roles.

    A zoo family's convention decides the roles of its models; any other module gets the generic
    convention (``shape``, one example's input shape, is then needed to trace it)."""
    ordered = _forward_order(model, comp)
    family = family_of(model)
    if family == GENERIC:
        return _generic_layers(model, ordered, granularity, shape)
    conv = CONVENTIONS[family]
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


def _forward_order(model: nn.Module, comp: Complexity) -> list:
    seen: set[str] = set()
    ordered = []
    for c in comp.layers:
        if c.name not in seen and isinstance(model.get_submodule(c.name), COUNTED):
            seen.add(c.name)
            ordered.append(c)
    return ordered


def _generic_layers(model: nn.Module, ordered: list, granularity: str, shape: tuple[int, ...] | None) -> list[Layer]:
    """The generic convention, from Torch-Pruning's dependency graph: every Conv/Linear layer is
    numbered in forward order; the last one (the output layer) is never filter-pruned; a layer whose
    output channels are coupled to another layer's (a residual sum, a depthwise conv) is pruned only
    when a pattern or an index names it, and then with its whole group; one that cannot be traced
    through is never pruned."""
    if granularity == "weight":
        return [Layer(c.name, i, c.kind, c.out_width, "explicit" if i == len(ordered) - 1 else "default", None)
                for i, c in enumerate(ordered)]
    if shape is None:
        raise PruneError(f"{class_path(model)}: pruning a model prunebench did not build needs its input_shape")
    state = coupled_roots(model, [c.name for c in ordered[:-1]], tuple(shape))
    layers = []
    for i, c in enumerate(ordered):
        s = state.get(c.name)  # None (alone), "coupled" or "untraceable"
        role = "never" if i == len(ordered) - 1 or s == "untraceable" else "explicit" if s == "coupled" else "default"
        layers.append(Layer(c.name, i, c.kind, c.out_width, role, None))
    return layers


def _role(name: str, model: nn.Module, conv: Convention, granularity: str, *, side: bool, is_last: bool, is_first: bool) -> str:
    if granularity == "weight":
        return "explicit" if is_last else "default"
    if side or is_last or not conv.default(name, model):
        return "never"
    return conv.first if is_first else "default"

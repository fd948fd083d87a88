"""Parameters and MACs of a model, counted from the model itself with forward hooks.

MACs are multiply-accumulates of Conv and Linear layers only (bias additions, BN, activations and
pooling are not counted). Many papers call this number "FLOPs"; Li et al. 2017 do. We never do.
Counts come from one forward pass of a batch of one zero input of the model's input shape, so they
reflect the architecture actually built (a physically pruned model gives its own, smaller numbers).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..modes import eval_mode

COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class LayerCount:
    name: str
    kind: str  # "conv" | "linear"
    in_width: int  # input channels / features
    out_width: int  # output channels / features
    params: int  # weight + bias elements of this layer
    macs: int  # multiply-accumulates for one input example
    output_shape: tuple[int, ...]  # without the batch dimension


@dataclass(frozen=True)
class Complexity:
    params: int  # every parameter of the model (BN affine ones included)
    macs: int  # sum over the Conv/Linear layers
    layers: list[LayerCount] = field(default_factory=list)  # forward order

    @property
    def layer_params(self) -> int:
        """Parameters of the Conv/Linear layers alone."""
        return sum(c.params for c in self.layers)

    def by_name(self) -> dict[str, LayerCount]:
        return {c.name: c for c in self.layers}

    def to_json(self) -> dict[str, Any]:
        return {"params": self.params, "macs": self.macs, "layers": [asdict(c) for c in self.layers]}


def _layer_count(name: str, module: nn.Module, output: torch.Tensor) -> LayerCount:
    weight = module.weight
    params = weight.numel() + (module.bias.numel() if module.bias is not None else 0)
    per_example = output.shape[1:]
    if isinstance(module, nn.Linear):
        # Every output element needs in_features multiply-accumulates (extra leading dims included).
        macs = math.prod(per_example) * module.in_features
        return LayerCount(name, "linear", module.in_features, module.out_features, params, macs, tuple(per_example))
    fan_in = (module.in_channels // module.groups) * math.prod(module.kernel_size)
    macs = math.prod(per_example) * fan_in
    return LayerCount(name, "conv", module.in_channels, module.out_channels, params, macs, tuple(per_example))


def count(model: nn.Module, input_shape: tuple[int, ...] | list[int]) -> Complexity:
    """Count params and MACs with hooks on one forward pass (eval mode, no grad, batch of 1).

    A layer called more than once (weight sharing) is counted once per call, as its MACs are."""
    records: list[LayerCount] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, COUNTED):
            hooks.append(module.register_forward_hook(
                lambda mod, _inp, out, name=name: records.append(_layer_count(name, mod, out))
            ))
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        with eval_mode(model), torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
    params = sum(p.numel() for p in model.parameters())
    return Complexity(params=params, macs=sum(c.macs for c in records), layers=records)


def effective(comp: Complexity, nonzero: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    """Effective (nonzero) params and MACs under weight masks.

    ``nonzero`` maps a layer name to (nonzero weights, all weights) of its mask. A masked weight does
    no useful multiply, and in a conv every weight is used equally often per output position, so a
    layer's effective MACs are its MACs times its weight density (padding borders aside)."""
    params, macs = comp.params, 0
    for c in comp.layers:
        if c.name in nonzero:
            kept, total = nonzero[c.name]
            params -= total - kept
            macs += round(c.macs * kept / total) if total else 0
        else:
            macs += c.macs
    return params, macs


def nonzero_weights(model: nn.Module, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(nonzero weights, all weights) of the named layers."""
    out = {}
    for name in names:
        weight = model.get_submodule(name).weight
        out[name] = (int((weight != 0).sum()), weight.numel())
    return out


def pruned_counts(model: nn.Module, input_shape: tuple[int, ...] | list[int],
                  masked: Iterable[str] = ()) -> tuple[Complexity, int, int]:
    """The counts prunebench reports for a pruned model: ``(structure, params, macs)``.

    ``structure`` is the model as built (a masked model keeps its dense shape); ``params`` and ``macs``
    are the numbers every report, regime and audit uses. For a physically pruned model they are the
    structure's; for the ``masked`` layers of an unstructured one only the nonzero weights count (as
    in Liu et al.'s weight-level code), so 50% and 90% weight sparsity are different compression
    rates, with different Scratch-B budgets and speedups."""
    comp = count(model, input_shape)
    names = list(masked)
    if not names:
        return comp, comp.params, comp.macs
    params, macs = effective(comp, nonzero_weights(model, names))
    return comp, params, macs


def sparsity(params: int, dense_params: int) -> float:
    """Fraction of the dense model's parameters removed (or zeroed)."""
    return 1.0 - params / dense_params if dense_params else 0.0


def speedup(dense_macs: int, macs: int) -> float:
    """Dense MACs / pruned MACs (a theoretical speedup; see metrics.latency for a measured one)."""
    return dense_macs / macs if macs else float("inf")

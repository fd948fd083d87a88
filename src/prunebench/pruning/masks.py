"""Unstructured (weight) pruning: boolean masks over Conv/Linear weights, kept through retraining.

A :class:`MaskSet` is attached to the pruned model (a plain attribute, outside the state dict, so
weights files keep their dense layout). The training loop keeps masked weights at exactly zero by
calling ``enforce_masks(model)`` after every optimizer step (momentum and weight decay would
otherwise move them). On disk the masks are ``masks.safetensors`` (key ``<layer>.weight``, bool).
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from ..errors import PruneError

ATTR = "_prunebench_masks"


class MaskSet:
    """Masks by layer name: True = weight kept, False = weight pruned (held at zero)."""

    def __init__(self, masks: dict[str, torch.Tensor]) -> None:
        self.masks = {name: m.detach().to("cpu", torch.bool).contiguous() for name, m in masks.items()}
        self._on: dict[tuple[str, torch.device], torch.Tensor] = {}

    def _mask(self, name: str, device: torch.device) -> torch.Tensor:
        key = (name, device)
        if key not in self._on:  # cached per device: apply_ runs after every optimizer step
            self._on[key] = self.masks[name].to(device)
        return self._on[key]

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> nn.Module:
        """Zero every masked weight of ``model`` in place."""
        for name, mask in self.masks.items():
            weight = model.get_submodule(name).weight
            if weight.shape != mask.shape:
                raise PruneError(f"mask for {name} has shape {tuple(mask.shape)}, the weight {tuple(weight.shape)}")
            weight.masked_fill_(~self._mask(name, weight.device), 0)
        return model

    def attach(self, model: nn.Module) -> nn.Module:
        object.__setattr__(model, ATTR, self)
        return model

    def counts(self) -> dict[str, tuple[int, int]]:
        """(kept, total) weights per layer."""
        return {n: (int(m.sum()), m.numel()) for n, m in self.masks.items()}

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": m for name, m in self.masks.items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "MaskSet":
        """Masks as stored (``<layer>.weight`` -> bool tensor); any other dtype is refused rather than
        cast (a float 0.5 would silently become a kept weight)."""
        bad = [k for k in tensors if not k.endswith(".weight")]
        if bad:
            raise PruneError(f"masks: unexpected key {bad[0]!r} (keys are '<layer>.weight')")
        typed = [k for k, v in tensors.items() if v.dtype != torch.bool]
        if typed:
            raise PruneError(f"masks: {typed[0]} is {str(tensors[typed[0]].dtype).removeprefix('torch.')}, masks are bool")
        return cls({k.removesuffix(".weight"): v for k, v in tensors.items()})

    def check_fits(self, model: nn.Module, where: str = "masks") -> None:
        """Every mask covers the weight of a Conv/Linear layer of ``model``, shape for shape."""
        from ..metrics.complexity import COUNTED

        modules = dict(model.named_modules())
        for name, mask in self.masks.items():
            module = modules.get(name)
            if not name or not isinstance(module, COUNTED):
                raise PruneError(f"{where}: mask {name!r}.weight is not the weight of a Conv/Linear layer of the model")
            if tuple(mask.shape) != tuple(module.weight.shape):
                raise PruneError(f"{where}: mask for {name} has shape {tuple(mask.shape)}, the weight {tuple(module.weight.shape)}")

    def sha256(self, length: int = 16) -> str:
        h = hashlib.sha256()
        for name in sorted(self.masks):
            m = self.masks[name]
            h.update(f"{name}:{tuple(m.shape)}:".encode())
            h.update(m.to(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:length]


def masks_of(model: nn.Module) -> MaskSet | None:
    """The MaskSet attached to ``model`` by unstructured pruning, if any."""
    return getattr(model, ATTR, None)


def enforce_masks(model: nn.Module) -> None:
    """Keep pruned weights at zero; call after every optimizer step. A no-op without masks."""
    masks = masks_of(model)
    if masks is not None:
        masks.apply_(model)


def _keep_top(scores: torch.Tensor, remove: int) -> torch.Tensor:
    """Mask that drops the ``remove`` lowest scores (ties: the lower flat index goes first)."""
    flat = scores.reshape(-1)
    mask = torch.ones(flat.numel(), dtype=torch.bool)
    if remove > 0:
        # Same result as a stable sort, in linear time: everything below the k-th smallest score,
        # then as many of the scores equal to it as still needed, lowest index first.
        threshold = torch.kthvalue(flat, remove).values
        below = flat < threshold
        mask[below] = False
        need = remove - int(below.sum())
        mask[torch.nonzero(flat == threshold).reshape(-1)[:need]] = False
    return mask.reshape(scores.shape)


def layer_masks(scores: dict[str, torch.Tensor], removed: dict[str, int]) -> dict[str, torch.Tensor]:
    return {name: _keep_top(scores[name], k) for name, k in removed.items() if k > 0}


def global_masks(scores: dict[str, torch.Tensor], remove: int) -> dict[str, torch.Tensor]:
    """One ranking over all the layers' scores; every layer keeps at least its best weight (a layer
    with all weights pruned would cut the network)."""
    names = list(scores)
    flat = torch.cat([scores[n].reshape(-1).to(torch.float64) for n in names])
    keep = _keep_top(flat, remove)
    masks, start = {}, 0
    for n in names:
        size = scores[n].numel()
        m = keep[start:start + size].clone()
        if not m.any():
            m[int(torch.argmax(scores[n].reshape(-1)))] = True
        start += size
        if not m.all():
            masks[n] = m.reshape(scores[n].shape)
    return masks

"""Physical filter removal through Torch-Pruning's dependency graph, with indices chosen by us.

For each root layer we ask Torch-Pruning's low-level API (``DependencyGraph.build_dependency`` +
``get_pruning_group``) which parameters are coupled to its output channels (its BN, the next layer's
input channels, a flatten into a Linear, ...), with the full index set, and keep that as a *group
template*: (module name, operation, [(index, root index)]). Templates depend only on the
architecture, so they are cached per architecture and input shape: tracing costs more than the
pruning itself. Removing filters R of a root then calls Torch-Pruning's pruning functions on each
coupled module with the indices whose root index is in R, exactly what ``Group.prune()`` does.

Option-A shortcuts (strided slice + channel zero-pad) trace as element-wise ops; they only couple the
residual stream, which our conventions never prune, so the groups of block-internal convs are
exact. Any coupling between two pruned roots is refused rather than guessed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch_pruning as tp
from torch import nn
from torch.func import functional_call

from ..errors import PruneError
from ..modes import eval_mode

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class Item:
    module: str
    op: str  # "conv-out" | "conv-in" | "linear-out" | "linear-in" | "bn"
    pairs: tuple[tuple[int, int], ...]  # (index in this module's dimension, root filter index)


PRUNE_FN: dict[str, Callable] = {
    "conv-out": tp.prune_conv_out_channels,
    "conv-in": tp.prune_conv_in_channels,
    "linear-out": tp.prune_linear_out_channels,
    "linear-in": tp.prune_linear_in_channels,
    "bn": tp.prune_batchnorm_out_channels,
}

_CACHE: dict[tuple, dict[str, tuple[Item, ...]]] = {}


def architecture_key(model: nn.Module, shape: tuple[int, ...]) -> tuple:
    """What a traced structure depends on: the class's full import path (two user classes called
    ``Net`` in different modules are different architectures), the input shape and every tensor's
    name and shape."""
    tensors = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    return (f"{type(model).__module__}.{type(model).__qualname__}", tuple(shape), tensors)


def _op(module: nn.Module, is_out: bool) -> str | None:
    if isinstance(module, _CONV):
        return "conv-out" if is_out else "conv-in"
    if isinstance(module, nn.Linear):
        return "linear-out" if is_out else "linear-in"
    if isinstance(module, _BN):
        return "bn"
    return None


def _template(dg: tp.DependencyGraph, names: dict, root: nn.Module) -> tuple[Item, ...]:
    fn = tp.prune_conv_out_channels if isinstance(root, _CONV) else tp.prune_linear_out_channels
    group = dg.get_pruning_group(root, fn, idxs=list(range(root.weight.shape[0])))
    items = []
    for it in group.items:
        target = it.dep.target.module
        if not isinstance(target, nn.Module) or target not in names:
            continue  # a functional op (activation, reshape, add): nothing to remove there
        op = _op(target, dg.is_out_channel_pruning_fn(it.dep.handler))
        if op is None:
            if any(True for _ in target.parameters(recurse=False)):
                raise PruneError(f"cannot prune through {names[target]} ({type(target).__name__}): unsupported layer type")
            continue
        items.append(Item(names[target], op, tuple(zip(map(int, it.idxs), map(int, it.root_idxs)))))
    return tuple(items)


def _traced(model: nn.Module, roots: list[str], shape: tuple[int, ...]) -> dict[str, tuple[Item, ...] | PruneError]:
    """Templates of ``roots`` (or the PruneError that tracing one of them raised), cached per
    architecture: each architecture is traced at most once per set of new roots."""
    key = architecture_key(model, shape)
    cached = _CACHE.setdefault(key, {})
    missing = [r for r in roots if r not in cached]
    if missing:
        # Trace a throwaway copy in eval mode: tracing runs a forward pass, which must not touch
        # the caller's BN statistics.
        traced = copy.deepcopy(model).eval()
        example = torch.zeros((2, *shape), device=next(traced.parameters()).device)
        try:
            dg = tp.DependencyGraph().build_dependency(traced, example_inputs=example, verbose=False)
        except Exception as err:
            raise PruneError(f"cannot trace {key[0]} with input shape {list(shape)}: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}") from None
        names = {m: n for n, m in traced.named_modules()}
        for r in missing:
            try:
                cached[r] = _template(dg, names, traced.get_submodule(r))
            except PruneError as err:
                cached[r] = err
    return {r: cached[r] for r in roots}


def group_templates(model: nn.Module, roots: list[str], shape: tuple[int, ...]) -> dict[str, tuple[Item, ...]]:
    """The coupled-parameter templates of ``roots``, traced once per architecture."""
    out = {}
    for r, t in _traced(model, roots, shape).items():
        if isinstance(t, PruneError):
            raise t
        out[r] = t
    return out


def coupled_roots(model: nn.Module, roots: list[str], shape: tuple[int, ...]) -> dict[str, str | None]:
    """Per root: None when its output channels can be removed alone, ``"coupled"`` when they are
    tied to another layer's outputs (removing them removes that layer's too), ``"untraceable"`` when
    a module in its group cannot be pruned."""
    out: dict[str, str | None] = {}
    for r, t in _traced(model, roots, shape).items():
        if isinstance(t, PruneError):
            out[r] = "untraceable"
        else:
            out[r] = "coupled" if any(it.op.endswith("-out") and it.module != r for it in t) else None
    return out


def _selected(item: Item, removed: set[int]) -> list[int]:
    return [i for i, r in item.pairs if r in removed]


def check_disjoint(templates: dict[str, tuple[Item, ...]]) -> None:
    owner: dict[tuple[str, str], str] = {}
    for root, items in templates.items():
        for it in items:
            other = owner.setdefault((it.module, it.op), root)
            if other != root:
                raise PruneError(f"layers {other} and {root} are coupled through {it.module}; prune only one of them")


def remove_filters(model: nn.Module, templates: dict[str, tuple[Item, ...]], removed: dict[str, list[int]]) -> None:
    """Remove the filters ``removed[root]`` (root's own indices) from ``model`` in place."""
    for root, idxs in removed.items():
        if not idxs:
            continue
        rset = set(idxs)
        for it in templates[root]:
            PRUNE_FN[it.op](model.get_submodule(it.module), _selected(it, rset))


def masked_state(model: nn.Module, templates: dict[str, tuple[Item, ...]], removed: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """The dense state with every coupled parameter of the removed filters zeroed.

    Zeroing the consumers' input columns alone already makes the dense model compute what the pruned
    one does, whatever the activation (f(0) need not be 0); the producers' rows, biases and BN
    channels (gamma, beta, running mean) are zeroed too, so the masked model is the pruned model
    padded with zeros."""
    state = dict(model.state_dict())
    cloned: set[str] = set()

    def zero(key: str, idxs: list[int], dim: int) -> None:
        if key not in state or state[key] is None:
            return
        if key not in cloned:
            state[key] = state[key].clone()
            cloned.add(key)
        state[key].index_fill_(dim, torch.tensor(idxs, dtype=torch.long, device=state[key].device), 0)

    for root, idxs in removed.items():
        rset = set(idxs)
        for it in templates[root]:
            sel = _selected(it, rset)
            if not sel:
                continue
            if it.op.endswith("-in"):
                zero(f"{it.module}.weight", sel, 1)
                continue
            for suffix in ("weight", "bias") + (("running_mean",) if it.op == "bn" else ()):
                zero(f"{it.module}.{suffix}", sel, 0)
    return state


def check_equivalent(dense: nn.Module, pruned: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor, what: str) -> float:
    """Eval-mode outputs of the pruned model and the zero-masked dense model must agree (computed in
    full FP32: under TF32 the two would differ by more than the tolerance on a GPU)."""
    from ..devices import full_fp32

    with eval_mode(dense, pruned), torch.no_grad(), full_fp32(x.device):
        want = functional_call(dense, state, (x,))
        got = pruned(x)
    if got.shape != want.shape:
        raise PruneError(f"{what}: pruned model output shape {tuple(got.shape)} != dense {tuple(want.shape)}")
    scale = float(want.abs().max()) + 1e-12
    err = float((got - want).abs().max())
    if not err <= 1e-4 * scale + 1e-6:
        raise PruneError(f"{what}: pruned model differs from the masked dense model (max error {err:.3g}, scale {scale:.3g})")
    return err

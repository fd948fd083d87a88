"""Contract checks for plug-ins: call them on your own criterion, model, data set or regime.

Each ``check_*`` function exercises the contract the rest of prunebench relies on and raises
:class:`ContractError` (an ``AssertionError``, so pytest reports it as a failed test) naming what is
wrong. prunebench's own suite runs them over every entry of every registry, so a new built-in is
tested by being registered.

```python
from prunebench.testing import check_criterion, check_model
def test_my_plugin():
    check_criterion("fpgm")
    check_model("tiny-res")
```
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .registry import CRITERIA, DATASETS, MODELS, REGIMES


class ContractError(AssertionError):
    """A plug-in breaks the contract of its kind."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ContractError(message)


class _Probe(nn.Module):
    """A small generic network (convolutions, BatchNorm, a residual add, a linear head) that
    criteria are checked on; not from the zoo, so the generic layer convention is exercised."""

    def __init__(self, channels: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(channels)
        self.a = nn.Conv2d(channels, 12, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.b = nn.Conv2d(12, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn0(self.stem(x)))
        y = torch.relu(self.bn1(self.a(x)))
        x = torch.relu(x + self.bn2(self.b(y)))
        return self.head(x.mean(dim=(2, 3)))


PROBE_SHAPE = (3, 8, 8)


def probe_model(seed: int = 0) -> nn.Module:
    """The generic probe network, initialised from ``seed`` (BN statistics made non-trivial)."""
    gen = torch.Generator().manual_seed(seed)
    model = _Probe()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model.eval()


def _batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn((8, *PROBE_SHAPE), generator=gen), torch.randint(0, 4, (8,), generator=gen))]


def check_criterion(name: str, args: dict[str, Any] | None = None) -> None:
    """One finite score per filter (or weight) of every layer; the same seed gives the same scores;
    for filter criteria, the physically pruned model computes what the masked dense one does (the
    check ``prunebench.prune`` runs) and its plan replays bit-identically."""
    from .pruning import PruneSpec, prune, replay
    from .pruning.criteria import criterion_from_spec
    from .pruning.layers import discover
    from .pruning.scoring import score_layers
    from .pruning.structured import group_templates
    from .metrics import complexity as cx

    cls = CRITERIA.get(name)
    args = dict(args if args is not None else getattr(cls, "example_args", {}) or {})
    for granularity in cls.granularities:
        spec = PruneSpec(ratio=0.5, criterion=name, criterion_args=args, granularity=granularity)
        model = probe_model()
        layers = discover(model, cx.count(model, PROBE_SHAPE), granularity, PROBE_SHAPE)
        names = [l.name for l in layers if l.role == "default"]
        _require(bool(names), "the probe network has no prunable layer (a bug in prunebench.testing)")
        templates = group_templates(model, names, PROBE_SHAPE) if granularity == "filter" else None
        runs = [score_layers(model, names, criterion_from_spec(spec), granularity=granularity, seed=3,
                             data=_batches(), templates=templates) for _ in range(2)]
        for layer in names:
            w = model.get_submodule(layer).weight
            want = tuple(w.shape) if granularity == "weight" else (w.shape[0],)
            _require(tuple(runs[0][layer].shape) == want, f"criterion {name!r}: scores of {layer} have shape "
                     f"{tuple(runs[0][layer].shape)}, want {want}")
            _require(torch.equal(runs[0][layer], runs[1][layer]), f"criterion {name!r}: the same seed gave different scores for {layer}")
        result = prune(model, spec, data=_batches(), seed=3, input_shape=PROBE_SHAPE)  # runs the masked = pruned check
        if granularity == "filter":
            again = replay(result.plan, model)
            _require(all(torch.equal(a, b) for a, b in zip(result.model.state_dict().values(), again.state_dict().values())),
                     f"criterion {name!r}: the plan did not replay bit-identically")


def check_model(name: str, args: dict[str, Any] | None = None, *, prune_ratio: float = 0.3) -> None:
    """The model builds at its registered shape, its output has one logit per class, the same seed
    gives bit-identical weights and another seed different ones, and it can be pruned by its
    layer convention (uniform ``prune_ratio``; the masked-equals-pruned check passes)."""
    from .models import build_model, model_info
    from .pruning import prune

    info = model_info(name)
    args = dict(args or {})
    a, b, c = (build_model(name, seed=s, **args) for s in (0, 0, 1))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    _require(all(torch.equal(sa[k], sb[k]) for k in sa), f"model {name!r}: the same seed gave different weights")
    _require(any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point()),
             f"model {name!r}: seeds 0 and 1 gave identical weights (is the init driven by the seed?)")
    x = torch.randn((2, *info["input_shape"]), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = a.eval()(x)
    _require(tuple(out.shape) == (2, info["num_classes"]), f"model {name!r}: output shape {tuple(out.shape)}, "
             f"want (2, {info['num_classes']})")
    result = prune(a, prune_ratio, seed=0)
    _require(result.report["params"] < result.report["dense_params"], f"model {name!r}: pruning removed nothing")


def check_dataset(name: str, **spec_fields: Any) -> None:
    """The loader gives inputs of its declared kind and integer labels in range; the split (train /
    val / test) is the same on every load; every load returns fresh tensors, and compact (uint8)
    storage gives the same inputs as float storage."""
    from .config import DataSpec, validate
    from .data import load_data

    spec = validate(DataSpec, {"name": name, **spec_fields}, f"data set {name!r}")
    one, two = load_data(spec), load_data(spec)
    for part in ("train", "val", "test"):
        x, y = getattr(one, f"{part}_x"), getattr(one, f"{part}_y")
        _require(x.dtype == torch.float32 or x.dtype == torch.uint8, f"data set {name!r}: {part} inputs are {x.dtype}")
        _require(y.dtype == torch.int64 and y.dim() == 1 and len(y) == len(x), f"data set {name!r}: {part} labels malformed")
        if len(y):
            _require(0 <= int(y.min()) and int(y.max()) < one.num_classes, f"data set {name!r}: {part} labels out of range")
        _require(torch.equal(x, getattr(two, f"{part}_x")) and torch.equal(y, getattr(two, f"{part}_y")),
                 f"data set {name!r}: the {part} split differs between two loads")
    _require(len(one.train_y) > 0 and len(one.test_y) > 0, f"data set {name!r}: an empty train or test split")
    # Training loads with compact=True, which reuses the memory of the loader's tensors: they must be
    # fresh on every call (a loader that hands out a cached tensor would see it overwritten).
    from .registry import DATASETS

    first, second = DATASETS.get(name)(spec), DATASETS.get(name)(spec)
    for part in ("train_x", "test_x"):
        a, b = getattr(first, part), getattr(second, part)
        _require(a.numel() == 0 or a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr(),
                 f"data set {name!r}: two loads returned the same {part} tensor memory (return fresh tensors)")
    compact = load_data(spec, compact=True)
    for part in ("train", "val", "test"):
        _require(torch.equal(compact.prepare(getattr(compact, f"{part}_x")), getattr(one, f"{part}_x")),
                 f"data set {name!r}: compact storage gives other {part} inputs than float storage")


def check_regime(name: str, fields: dict[str, Any] | None = None) -> None:
    """The regime resolves a valid spec (its ``example``) against a base recipe to a written-out
    recipe, deterministically; its snapshots lie inside the base run and include the epoch a
    snapshot start needs; a fresh start counts no pretraining epochs."""
    from .config import TrainSpec
    from .pipeline.regimes import RegimeContext, resolve
    from .pipeline.spec import RegimeSpec

    regime = REGIMES.get(name)
    fields = dict(fields if fields is not None else getattr(regime, "example", {}) or {})
    spec = RegimeSpec(name=name, **fields)
    base = TrainSpec(epochs=6, lr_schedule="0:0.1,3:0.01,5:0.001")
    ctx = RegimeContext(base, dense_macs=1000, pruned_macs=400, seed=0)
    first, second = resolve(spec, ctx), resolve(spec, ctx)
    _require(first == second, f"regime {name!r}: resolving the same spec twice gave different recipes")
    _require(first.retrain.epochs >= 1, f"regime {name!r}: a retraining of {first.retrain.epochs} epochs")
    _require(len(first.retrain.lrs()) == first.retrain.epochs, f"regime {name!r}: the schedule does not cover its epochs")
    snaps = regime.snapshots(spec)
    _require(all(0 <= e < base.epochs for e in snaps), f"regime {name!r}: snapshots {sorted(snaps)} outside the base run")
    if first.start == "snapshot":
        _require(first.snapshot_epoch in snaps, f"regime {name!r}: starts from base epoch {first.snapshot_epoch}, "
                 f"which its snapshots {sorted(snaps)} do not keep")
    if first.fresh:
        _require(first.pretrain_epochs == 0, f"regime {name!r}: a fresh start counts {first.pretrain_epochs} pretraining epochs")
    est = regime.estimated_epochs(spec, base.epochs)
    _require(isinstance(est, int) and est >= 0, f"regime {name!r}: estimated_epochs gave {est!r}")


def check_method(name: str, args: dict[str, Any] | None = None, prune: dict[str, Any] | None = None) -> None:
    """A method with a pruning stage runs it on the probe network through the training loop (its
    ``example`` args and ``example_prune`` prune spec unless given) and cuts: the
    stage records ``reg``, ``sparsity`` and ``macs`` every epoch, the cut removes something, leaves
    the dense model alone, and the same seed gives the same plan."""
    from .config import DataSpec, TrainSpec
    from .data import load_data
    from .pruning.methods.base import StageContext, get_method
    from .pruning.spec import PruneSpec
    from .train.loop import steps_per_epoch, train

    method = get_method(name)
    parsed = method.args(dict(args if args is not None else method.example))
    if not method.has_stage:
        return
    spec = PruneSpec(**(prune or method.example_prune))
    method.check_prune(parsed, spec)
    data = load_data(DataSpec(name="synthetic", input_shape=PROBE_SHAPE, num_classes=4, num_samples=64, augment=False))
    epochs, schedule = method.stage_schedule(parsed, TrainSpec(epochs=2, lr_schedule="0:0.05"))
    recipe = TrainSpec(epochs=epochs, lr_schedule=schedule, batch_size=16)

    def once():
        dense = probe_model(0).train()
        before = {k: v.clone() for k, v in dense.state_dict().items()}
        model = probe_model(0).train()
        ctx = StageContext(prune=spec, seed=0, steps_per_epoch=steps_per_epoch(data, 16), input_shape=PROBE_SHAPE,
                           batches=_batches(), snapshot=lambda e: before, notes={"layers": 2, "round_epochs": epochs // max(1, getattr(parsed, "rounds", 1))})
        method.check(parsed, ctx)
        hooks = method.hooks(parsed, model, ctx)
        out = train(model, data, recipe, callbacks=[hooks], augment=False)
        result = method.finish(parsed, model, hooks, ctx)
        _require(all(torch.equal(before[k], v) for k, v in dense.state_dict().items()), f"method {name!r} changed another model")
        return out, result

    (out, first), (_, second) = once(), once()
    for rec in out.history:
        _require(all(k in rec for k in ("reg", "sparsity", "macs")), f"method {name!r}: a stage epoch lacks reg/sparsity/macs")
    _require(first.report["params"] < first.report["dense_params"] or first.masks is not None,
             f"method {name!r}: the cut removed nothing")
    _require(first.plan["layers"] == second.plan["layers"], f"method {name!r}: the same seed gave different plans")


__all__ = ["ContractError", "check_criterion", "check_dataset", "check_method", "check_model", "check_regime", "probe_model"]

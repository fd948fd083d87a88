"""The regime contract: a retraining regime is a small object that describes itself.

A regime turns a :class:`~prunebench.pipeline.spec.RegimeSpec` plus what is known of the base run into
a complete, written-out retraining recipe (design rule 1: no hidden defaults), and says everything
the rest of prunebench needs to know about it, so that nothing outside this package branches on a
regime's name:

* ``params``: the RegimeSpec parameters it reads (``prune_epoch``, ``rewind_epoch``, ``squeeze``,
  ``scratch_b``), and ``Args``, a :class:`~prunebench.config.Spec` for a plug-in's own parameters
  (``regime.args``); any other parameter given to it is refused;
* ``reads``: the recipe fields it reads (``epochs``, ``lr_schedule``, ``lr``, ``final_lr``; the
  optimizer fields and ``extend`` are always read); one given on a study arm that it does not read
  is refused by the study;
* ``snapshots(spec)``: the base-run epochs whose weights it needs kept;
* ``score_epoch(spec)``: the base epoch whose weights are scored first (None: the final weights);
* ``resolve(spec, ctx)`` -> :class:`Resolved`: where the weights come from (``final``, ``snapshot``
  or ``fresh``), the epoch they are scored at and kept from, the retraining recipe, the dense
  epochs spent before the sparsifying action (how epochs and compute are counted), and ``derived``,
  the numbers it computed (stored with the run); :class:`RegimeContext` gives it the base recipe,
  the MACs, the seed and what the pruning did (``norm_drop``, ``pruned_fraction``);
* ``estimated_epochs(spec, base_epochs)``: a rough cost, for scheduling only;
* ``example``: a valid set of spec fields, for the contract checks of ``prunebench.testing``.

Register one with :func:`register_regime` (``prunebench.register_regime``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from ... import schedule as sched
from ...config import Spec, TrainSpec
from ...errors import ConfigError
from ...registry import REGIMES

#: The regime a spec names when it names none.
DEFAULT_REGIME = "retrain"

#: RegimeSpec fields that parametrise a regime (the rest are the retraining recipe).
PARAM_FIELDS = ("rewind_epoch", "prune_epoch", "squeeze", "scratch_b")
#: Recipe fields a regime may or may not read (the optimizer fields and ``extend`` it always reads).
SCHEDULE_FIELDS = ("epochs", "lr_schedule", "lr", "final_lr")
STARTS = ("final", "snapshot", "fresh")


@dataclass(frozen=True)
class RegimeContext:
    """What a regime may read besides its spec. ``norm_drop`` and ``pruned_fraction`` describe the
    pruning step (``pipeline.run`` always passes them): the relative L2 norm drop
    ``sqrt(|‖θ_dense‖² − ‖θ_pruned‖²|) / ‖θ_dense‖`` over every parameter (``regimes.literature.norm_drop``)
    and the fraction of the dense model's parameters removed (the prune report's ``sparsity``). They
    are None where nothing has been pruned yet (a study's dry checks): a regime that needs them must
    still resolve to a recipe of its final length there (ALLR: see regimes/literature.py)."""

    base_train: TrainSpec | None  # the recipe that made the base model (None: unknown)
    dense_macs: int
    pruned_macs: int
    seed: int
    norm_drop: float | None = None
    pruned_fraction: float | None = None
    stage_compute: float = 0  # epochs x MACs of the method's pruning stage (0 for one-shot)


@dataclass(frozen=True)
class Resolved:
    """What a regime decided: where the weights come from and the full retraining recipe."""

    start: str  # "final" (pruned final dense weights), "snapshot" (pruned weights at base epoch), "fresh"
    snapshot_epoch: int | None  # start == "snapshot": the base epoch the kept weights come from
    retrain: TrainSpec
    pretrain_epochs: int  # dense epochs spent before the sparsifying action (0 for a fresh start)
    score_epoch: int | None = None  # the base epoch whose weights were scored (None: the final ones)
    #: Numbers the regime computed and what from (ALLR: its LR and inputs); stored with the run
    #: (spec.json ``resolved.derived``, result.json ``regime_derived``); empty for most regimes.
    derived: dict[str, Any] | None = None

    @property
    def fresh(self) -> bool:
        return self.start == "fresh"


class Regime:
    """Base class of retraining regimes (see the module docstring for the contract)."""

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = SCHEDULE_FIELDS
    Args: ClassVar[type[Spec] | None] = None
    #: A valid set of RegimeSpec fields for this regime (what ``prunebench.testing.check_regime`` uses).
    example: ClassVar[dict[str, Any]] = {}

    def check(self, spec: Any) -> None:
        """Refuse parameters this regime does not read (called when a RegimeSpec is validated)."""
        for field in PARAM_FIELDS:
            default = type(spec).model_fields[field].default
            if field not in self.params and getattr(spec, field) != default:
                raise ConfigError(f"regime {self.name!r} has no parameter {field!r}"
                                  f" (its parameters: {', '.join(self.params) or 'none'})")
        if spec.args and self.Args is None:
            raise ConfigError(f"regime {self.name!r} takes no args, got {sorted(spec.args)}")
        self.args(spec)

    def args(self, spec: Any) -> Spec | None:
        """The validated plug-in parameters (``regime.args``), or None for a regime without them."""
        if self.Args is None:
            return None
        from ...config import validate

        return validate(self.Args, dict(spec.args), f"regime {self.name!r} args")

    def snapshots(self, spec: Any) -> set[int]:
        return set()

    def score_epoch(self, spec: Any) -> int | None:
        return None

    def resolve(self, spec: Any, ctx: RegimeContext) -> Resolved:
        raise NotImplementedError

    def estimated_epochs(self, spec: Any, base_epochs: int) -> int:
        return int(spec.epochs if spec.epochs is not None else base_epochs)


def _check_regime_class(cls: Any) -> None:
    what = getattr(cls, "__name__", repr(cls))
    if not (isinstance(cls, type) and issubclass(cls, Regime)):
        raise ConfigError(f"register_regime: {what} is not a subclass of prunebench.Regime")
    for attr in ("name", "description"):
        if not isinstance(getattr(cls, attr, None), str) or not getattr(cls, attr).strip():
            raise ConfigError(f"regime class {what}: class attribute {attr!r} must be a non-empty string")
    if not set(cls.params) <= set(PARAM_FIELDS):
        raise ConfigError(f"regime {cls.name!r}: params must be among {PARAM_FIELDS} (its own go into Args)")
    if not set(cls.reads) <= set(SCHEDULE_FIELDS):
        raise ConfigError(f"regime {cls.name!r}: reads must be among {SCHEDULE_FIELDS}")
    if cls.resolve is Regime.resolve:
        raise ConfigError(f"regime {cls.name!r}: {what} does not implement resolve()")


def register_regime(cls: type[Regime] | None = None) -> Callable | type[Regime]:
    """Class decorator: register a :class:`Regime` subclass (one instance) under its ``name``."""

    def decorator(c: type[Regime]) -> type[Regime]:
        _check_regime_class(c)
        REGIMES.add(c.name, c(), description=c.description)
        return c

    return decorator if cls is None else decorator(cls)


def get_regime(name: str) -> Regime:
    return REGIMES.get(name)


def resolve(spec: Any, ctx: RegimeContext) -> Resolved:
    resolved = get_regime(spec.name).resolve(spec, ctx)
    if resolved.start not in STARTS:
        raise ConfigError(f"regime {spec.name!r} resolved to start {resolved.start!r}; valid: {', '.join(STARTS)}")
    return resolved


def snapshot_epochs(spec: Any) -> set[int]:
    """Base-run epochs whose weights this regime needs kept."""
    return set(get_regime(spec.name).snapshots(spec))


def estimated_epochs(spec: dict[str, Any]) -> int:
    """A rough cost of a stored run spec, for ordering only: a base run's epochs, or what the run's
    regime estimates (a fresh start counts pretraining + retraining)."""
    if "train" in spec:  # a base run
        return int(spec["train"].get("epochs") or 0)
    regime_fields = spec.get("regime") or {}
    base = ((spec.get("base") or {}).get("train") or {}).get("epochs") or 0
    name = regime_fields.get("name", DEFAULT_REGIME)
    if name not in REGIMES:
        return int(base)

    class _Fields:  # the stored spec as attributes, without validating it again
        def __getattr__(self, key: str) -> Any:
            return regime_fields.get(key)

    return int(get_regime(name).estimated_epochs(_Fields(), int(base)))


# ---------------------------------------------------------------------------------------------
# Helpers the built-in regimes share (and a plug-in regime may use).


def need_base(ctx: RegimeContext, spec: Any) -> TrainSpec:
    if ctx.base_train is None:
        raise ConfigError(f"regime {spec.name!r} needs the base model's training recipe, which is unknown for this base")
    return ctx.base_train


def recipe(spec: Any, ctx: RegimeContext, epochs: int, schedule: str) -> TrainSpec:
    """The retraining TrainSpec: optimizer settings from the regime spec, else from the base recipe;
    ``extend`` adds epochs to the first LR stage ("+k epochs")."""
    base = ctx.base_train or TrainSpec()
    if spec.extend:
        schedule = sched.extend_first_stage(schedule, spec.extend)
        epochs += spec.extend
    return TrainSpec(
        epochs=epochs,
        lr_schedule=schedule,
        batch_size=spec.batch_size or base.batch_size,
        momentum=base.momentum if spec.momentum is None else spec.momentum,
        nesterov=base.nesterov if spec.nesterov is None else spec.nesterov,
        weight_decay=base.weight_decay if spec.weight_decay is None else spec.weight_decay,
        seed=ctx.seed,
        device=base.device,
        deterministic=base.deterministic,
        tf32=base.tf32,
        autocast=base.autocast,
    )


def explicit_schedule(spec: Any, ctx: RegimeContext, epochs: int) -> str | None:
    """The schedule the spec writes out (``lr_schedule``), or derives from ``lr`` by the paper's rules
    (final LR: ``final_lr``, else the base recipe's); None when it gives neither."""
    if spec.lr_schedule is not None:
        return spec.lr_schedule
    if spec.lr is not None:
        final = spec.final_lr
        if final is None:
            final = need_base(ctx, spec).schedule.final_lr
        return sched.derive(spec.lr, final, epochs)
    return None

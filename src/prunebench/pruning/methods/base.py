"""The method contract: a pruning method is a score, a ratio scheme and a schedule (the paper's three
valid advantages). A method with a *pruning stage* trains between the base model and its
sparsifying action; the stage is a recorded recipe like retraining (epochs, LR schedule, batch size,
momentum, weight decay) run by the one training loop, to which the method adds hooks:

* ``penalty(state)``: a term added to the loss (TPP's Gram penalty);
* ``on_after_backward(state)``: a penalty added to the gradients (slimming, GReg, TPP);
* ``on_step_end`` / ``on_epoch_end``: a mask schedule or a soft zeroing step (AGP, IMP, SFP);
* ``carry`` (``state.carry[method name]``): the JSON state the method needs to resume, written into
  the stage's checkpoint every epoch and handed back on resume.

Every epoch of a stage records ``reg`` (the regularisation strength then), ``sparsity`` (exactly
zero parameters / all parameters) and ``macs`` (the MACs the epoch ran at: nonzero weights only).

A method subclasses :class:`Method`, declares its parameters as a :class:`StageArgs` subclass
(``Args``; every field has a default, shown by ``prunebench methods``), and registers with
:func:`register_method` (``prunebench.register_method``). ``finish`` returns the pruned model the
way :func:`prunebench.prune` does (a ``PruneResult``), its choice passed as ``chosen``.
One-shot methods have no stage (``has_stage = False``): the pipeline scores and cuts as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from pydantic import Field, field_validator, model_validator

from ... import schedule as sched
from ...config import Spec, validate
from ...errors import ConfigError
from ...registry import METHODS

#: The method a spec names when it names none: score once, cut once (every run before methods).
DEFAULT_METHOD = "one-shot"


class NoArgs(Spec):
    """A method without parameters."""


class StageArgs(Spec):
    """The pruning stage's recipe, common to every method with a stage. Optimizer settings left out
    (None) are the base recipe's; the resolved stage is written out in ``spec.json``."""

    epochs: int = Field(default=4, ge=1, le=10_000)
    lr_schedule: str = "0:0.01"
    batch_size: int | None = Field(default=None, gt=0)
    momentum: float | None = Field(default=None, ge=0, lt=1)
    weight_decay: float | None = Field(default=None, ge=0)
    track_jsv: bool = False  # mean JSV after every stage epoch (costs a Jacobian per epoch)

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return None if value is None else sched.normalize(value)

    @model_validator(mode="after")
    def _fits(self) -> "StageArgs":
        if self.lr_schedule is None or self.epochs is None:
            return self
        s = sched.parse(self.lr_schedule)
        late = [k for k, _ in s.points[1:] if k >= self.epochs] if s.kind == "step" else []
        if late:
            raise ValueError(f"the pruning stage's lr_schedule {self.lr_schedule!r} changes the LR at epoch {late[0]}, "
                             f"but the stage has {self.epochs} epochs")
        return self


@dataclass
class StageContext:
    """What a method's stage knows besides its arguments."""

    prune: Any  # the run's PruneSpec (ratio, criterion, granularity, skip)
    seed: int
    steps_per_epoch: int
    input_shape: tuple[int, ...]
    batches: Any = None  # a few training batches (inputs, targets), for data-driven criteria
    snapshot: Callable[[int], dict[str, torch.Tensor]] | None = None  # base weights at an epoch
    notes: dict[str, Any] = field(default_factory=dict)


class Hooks:
    """A method's part of the training loop during its stage (the loop's callback interface)."""

    def on_train_start(self, state: Any) -> None: ...

    def penalty(self, state: Any) -> torch.Tensor | None:
        return None

    def on_after_backward(self, state: Any) -> None: ...

    def on_step_end(self, state: Any) -> None: ...

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None: ...

    def on_train_end(self, state: Any) -> None: ...


class Method:
    """Base class of pruning methods (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[Spec]] = NoArgs
    has_stage: ClassVar[bool] = True
    #: A valid, short ``args`` for the contract checks of ``prunebench.testing``.
    example: ClassVar[dict[str, Any]] = {}
    #: A prune spec the method follows, for the same checks.
    example_prune: ClassVar[dict[str, Any]] = {"ratio": 0.5}
    #: What the method's regularisation strength is, in words (``prunebench methods``).
    strength: ClassVar[str] = ""

    def args(self, raw: dict[str, Any]) -> Any:
        return validate(self.Args, dict(raw), f"method {self.name!r} args")

    def check_prune(self, args: Any, prune: Any) -> None:
        """Refuse a prune spec the method cannot follow (checked when the run spec is validated)."""

    def stage_schedule(self, args: Any, base: Any) -> tuple[int, str]:
        """The stage's (epochs, LR schedule); ``base`` is the base recipe (a TrainSpec or None)."""
        return args.epochs, args.lr_schedule

    def snapshots(self, args: Any) -> set[int]:
        """Base epochs whose weights the stage needs (IMP weight rewinding)."""
        return set()

    def check(self, args: Any, ctx: StageContext) -> None:
        """Refuse a stage that cannot hold the method's schedule (run before anything trains)."""

    def hooks(self, args: Any, model: torch.nn.Module, ctx: StageContext) -> Hooks:
        raise NotImplementedError

    def finish(self, args: Any, model: torch.nn.Module, hooks: Hooks, ctx: StageContext) -> Any:
        raise NotImplementedError


def _check_method_class(cls: Any) -> None:
    what = getattr(cls, "__name__", repr(cls))
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(f"register_method: {what} is not a subclass of prunebench.Method")
    for attr in ("name", "description"):
        if not isinstance(getattr(cls, attr, None), str) or not getattr(cls, attr).strip():
            raise ConfigError(f"method class {what}: class attribute {attr!r} must be a non-empty string")
    if not (isinstance(cls.Args, type) and issubclass(cls.Args, Spec)):
        raise ConfigError(f"method {cls.name!r}: Args must be a prunebench Spec subclass")
    if cls.has_stage and not issubclass(cls.Args, StageArgs):
        raise ConfigError(f"method {cls.name!r} has a pruning stage: its Args must subclass StageArgs")
    try:
        cls.Args()
    except Exception:
        raise ConfigError(f"method {cls.name!r}: every field of Args needs a default") from None


def register_method(cls: type[Method] | None = None):
    """Class decorator: register a :class:`Method` subclass under its ``name``."""

    def decorator(c: type[Method]) -> type[Method]:
        _check_method_class(c)
        METHODS.add(c.name, c, description=c.description, has_stage=c.has_stage)
        return c

    return decorator if cls is None else decorator(cls)


def get_method(name: str) -> Method:
    return METHODS.get(name)()


def parameters(name: str) -> list[tuple[str, str, Any]]:
    """(parameter, type, default) of a method, for ``prunebench methods``."""
    args = get_method(name).Args
    out = []
    for key, info in args.model_fields.items():
        ann = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        out.append((key, ann, args().model_dump(mode="json")[key]))
    return out

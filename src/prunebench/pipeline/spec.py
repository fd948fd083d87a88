"""Specs of one pipeline run: base model -> prune -> reinit -> retrain under a regime."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .. import schedule as sched
from ..config import DataSpec, ModelSpec, Spec, TrainRunSpec, TrainSpec
from ..pruning.spec import PruneSpec
from ..pruning.methods.base import DEFAULT_METHOD, get_method
from ..registry import METHODS, REGIMES, REINITS
from .regimes.base import DEFAULT_REGIME, get_regime


class BaseSpec(Spec):
    """Where the dense base model comes from: an existing model directory, or a pretraining recipe
    (trained once per seed and shared by every arm that names it)."""

    model_dir: str | None = None
    train: TrainSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "BaseSpec":
        if (self.model_dir is None) == (self.train is None):
            raise ValueError("base needs exactly one of model_dir (an existing dense model) or train (a pretraining recipe)")
        return self


class RegimeSpec(Spec):
    """A retraining regime and its parameters (see pipeline/regimes/ for what each one does).
    Optimizer settings left out are taken from the base recipe; the resolved recipe is stored.
    ``args`` holds a plug-in regime's own parameters (validated by the regime's ``Args``)."""

    name: str = DEFAULT_REGIME
    epochs: int | None = Field(default=None, ge=0)
    lr_schedule: str | None = None
    lr: float | None = Field(default=None, gt=0)
    final_lr: float | None = Field(default=None, gt=0)
    extend: int = Field(default=0, ge=0)
    rewind_epoch: int | None = Field(default=None, ge=0)
    prune_epoch: int | None = Field(default=None, ge=0)
    squeeze: bool = False
    scratch_b: Literal["paper", "liu"] = "paper"
    batch_size: int | None = Field(default=None, gt=0)
    momentum: float | None = Field(default=None, ge=0, lt=1)
    nesterov: bool | None = None
    weight_decay: float | None = Field(default=None, ge=0)
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        REGIMES.get(name)
        return name

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        return None if value is None else sched.normalize(value)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _one_schedule(self) -> "RegimeSpec":
        if self.lr_schedule is not None and self.lr is not None:
            raise ValueError("give lr_schedule or lr (derive by the rules), not both")
        if self.final_lr is not None and self.lr is None:  # it would be accepted and never read
            raise ValueError("final_lr is the end of a schedule derived from lr; give lr too (or write lr_schedule out)")
        get_regime(self.name).check(self)
        return self


class MethodSpec(Spec):
    """The pruning method (pruning/methods/): its name and its parameters, the pruning stage's
    recipe among them. ``args`` is stored with every parameter written out (no hidden defaults);
    the default one-shot method has none, so it never enters a run id."""

    name: str = DEFAULT_METHOD
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _full_args(self) -> "MethodSpec":
        from ..errors import ConfigError

        if self.name not in METHODS:
            raise ConfigError(f"unknown method {self.name!r}; valid: {', '.join(METHODS.names())}")
        full = get_method(self.name).args(self.args).model_dump(mode="json")
        object.__setattr__(self, "args", full)
        return self

    def parsed(self) -> Any:
        return get_method(self.name).args(self.args)


class PipelineSpec(Spec):
    """One run of the pipeline. Its hash is the run id."""

    kind: Literal["pipeline"] = "pipeline"
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    base: BaseSpec
    prune: PruneSpec
    reinit: str = "keep"
    regime: RegimeSpec
    method: MethodSpec = Field(default_factory=MethodSpec)
    seed: int = 0
    jsv_samples: int = Field(default=100, ge=0)
    device: str | None = None  # where to retrain; default: the base recipe's device (cpu for a model directory)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        return None if value is None else TrainSpec(device=value).device

    @property
    def run_device(self) -> str:
        if self.device is not None:
            return self.device
        return self.base.train.device if self.base.train is not None else "cpu"

    @field_validator("reinit")
    @classmethod
    def _reinit(cls, value: str) -> str:
        if value not in REINITS:
            raise ValueError(f"reinit must be one of {', '.join(REINITS.names())}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _method_fits(self) -> "PipelineSpec":
        from ..errors import ConfigError

        method = get_method(self.method.name)
        if not method.has_stage:
            return self
        method.check_prune(self.method.parsed(), self.prune)
        if self.prune.sanity is not None:  # the stage's choice is handed to prune(chosen=): sanity would be ignored
            raise ConfigError(f"prune.sanity {self.prune.sanity!r} checks a one-shot criterion's scores, but this run "
                              f"prunes with method {self.method.name!r}, whose choice comes from its pruning stage "
                              "(a sanity arm of a method arm: reinit-on-mask)")
        if self.method.parsed().track_jsv and self.jsv_samples == 0:
            raise ConfigError(f"method {self.method.name!r}: track_jsv needs jsv_samples > 0 (it has 0 inputs to measure on)")
        regime = get_regime(self.regime.name)
        if regime.score_epoch(self.regime) is not None or regime.snapshots(self.regime):
            raise ConfigError(f"method {self.method.name!r} runs its pruning stage from the final base weights; regime "
                              f"{self.regime.name!r} prunes or restarts from a base snapshot (use retrain, lr-rewind or a scratch regime)")
        return self

    def base_run(self) -> TrainRunSpec | None:
        """The dense pretraining run this pipeline needs (None when the base is a model directory).
        Its seed is the pipeline's, so every arm with the same seed shares one base model."""
        if self.base.train is None:
            return None
        return TrainRunSpec(data=self.data, model=self.model, train=self.base.train.model_copy(update={"seed": self.seed}))

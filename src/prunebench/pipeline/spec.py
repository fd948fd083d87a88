"""Specs of one pipeline run: base model -> prune -> reinit -> retrain under a regime."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .. import schedule as sched
from ..config import DataSpec, ModelSpec, Spec, TrainRunSpec, TrainSpec
from ..pruning.spec import PruneSpec
from ..registry import REGIMES, REINITS
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


class PipelineSpec(Spec):
    """One run of the pipeline. Its hash is the run id."""

    kind: Literal["pipeline"] = "pipeline"
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    base: BaseSpec
    prune: PruneSpec
    reinit: str = "keep"
    regime: RegimeSpec
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

    def base_run(self) -> TrainRunSpec | None:
        """The dense pretraining run this pipeline needs (None when the base is a model directory).
        Its seed is the pipeline's, so every arm with the same seed shares one base model."""
        if self.base.train is None:
            return None
        return TrainRunSpec(data=self.data, model=self.model, train=self.base.train.model_copy(update={"seed": self.seed}))

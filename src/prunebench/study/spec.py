"""Study files: a grid of pipeline arms x pruning ratios x seeds, declared once in YAML.

```yaml
name: smoke
data: {name: mnist1d, num_samples: 1000}
model: {name: cnn1d, args: {channels: [8, 16, 16]}}
base: {epochs: 4, lr_schedule: "0:0.1,3:0.01"}   # a pretraining recipe (no seed), or a model directory
retrain: {epochs: 4, lr: 0.01}                      # default retraining recipe of every arm (optional)
arms:
  - {name: l1, criterion: l1}
  - {name: scratch, regime: scratch-e}
ratios: [0.3, 0.6]
seeds: [0, 1]
reference: l1
```
See docs/studies-format.md for every key. Validation is complete before anything is written.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, StrictInt, Tag, field_validator, model_validator

from ..config import MAX_EPOCHS, DataSpec, ModelSpec, Spec, TrainSpec, format_validation_error, read_yaml
from ..errors import ConfigError, PrunebenchError
from ..pipeline.regimes.base import DEFAULT_REGIME
from .tuning import TuneSpec

#: Keys of an arm's ``regime`` mapping (what the regime is); the rest of RegimeSpec is the recipe.
REGIME_KEYS = ("name", "rewind_epoch", "prune_epoch", "squeeze", "scratch_b", "args")
#: Keys of a ``retrain`` mapping: the retraining recipe of RegimeSpec.
RETRAIN_KEYS = ("epochs", "lr_schedule", "lr", "final_lr", "extend", "batch_size", "momentum", "nesterov",
                "weight_decay")


class RetrainRecipe(Spec):
    """A retraining recipe. ``lr`` derives the schedule by the paper's rules (final LR = the base
    recipe's final LR unless ``final_lr`` is given); ``extend`` adds epochs to the first LR stage.
    Fields left out come from the base recipe; the seed is the run's."""

    epochs: int | None = Field(default=None, ge=0, le=MAX_EPOCHS)
    lr_schedule: str | None = None
    lr: float | None = Field(default=None, gt=0)
    final_lr: float | None = Field(default=None, gt=0)
    extend: int | None = Field(default=None, ge=0, le=MAX_EPOCHS)
    batch_size: int | None = Field(default=None, gt=0)
    momentum: float | None = Field(default=None, ge=0, lt=1)
    nesterov: bool | None = None
    weight_decay: float | None = Field(default=None, ge=0)

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        # '{0:0.01, 30:0.001}' as the authors write it (a mapping once YAML has read it unquoted)
        from .. import schedule as sched

        return None if value is None else sched.normalize(value)


class RegimeChoice(Spec):
    """An arm's regime: its name, its parameters, and a plug-in regime's own ``args``."""

    name: str = DEFAULT_REGIME
    rewind_epoch: int | None = Field(default=None, ge=0)
    prune_epoch: int | None = Field(default=None, ge=0)
    squeeze: bool | None = None
    scratch_b: str | None = None
    args: dict[str, Any] | None = None


class ArmSpec(Spec):
    """One arm: a pruning criterion and spec, a re-initialisation, a regime and its recipe."""

    name: str = Field(min_length=1)
    criterion: str = "l1"
    prune: Union[str, float, list[Any], dict[str, Any], None] = None
    reinit: str = "keep"
    regime: Annotated[
        Union[Annotated[str, Tag("name")], Annotated[RegimeChoice, Tag("mapping")]],
        Discriminator(lambda v: "name" if isinstance(v, str) else "mapping"),
    ] = DEFAULT_REGIME
    retrain: RetrainRecipe | None = None
    ratios: list[float] | None = None  # overrides the study's ratios for this arm
    model: ModelSpec | None = None  # overrides the study's model (its base models are then its own)
    # A sanity-check arm (study/sanity.py): the arm ``of`` with its criterion's choice thrown away.
    sanity: Literal["same-ratios-random", "shuffled-mask", "inverted", "reinit-on-mask"] | None = None
    of: str | None = None
    # Retraining-LR tuning on validation (study/tuning.py): every candidate is a run, the best on validation is kept.
    tune: TuneSpec | None = None
    method: Union[str, dict[str, Any], None] = None  # a method with a pruning stage: name, or {name, args}

    def method_fields(self) -> dict[str, Any] | None:
        if self.method is None:
            return None
        return {"name": self.method} if isinstance(self.method, str) else dict(self.method)

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: list[float] | None) -> list[float] | None:
        return None if value is None else check_ratios(value)

    def regime_choice(self) -> RegimeChoice:
        return RegimeChoice(name=self.regime) if isinstance(self.regime, str) else self.regime


#: Paths a ``compare`` mapping may name (a field of an arm, after the study's defaults apply).
COMPARE_PATHS = ("criterion", "prune", "reinit", "regime", "model", "ratios", "method", *(f"retrain.{k}" for k in RETRAIN_KEYS))


class CompareSpec(Spec):
    """How arms are compared (see study/compare.py). ``within``: arms are compared only with arms of
    the same level of these factors (each level has its own reference, the arm that matches the study's
    reference in every other field). ``by``: the factors under test; every other field that varies
    between arms is held equal (arms are grouped by it). Exactly one of the two."""

    within: list[str] = Field(default_factory=list)
    by: list[str] = Field(default_factory=list)

    @field_validator("within", "by", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("within", "by")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for path in value:
            if path not in COMPARE_PATHS:
                raise ValueError(f"unknown factor {path!r}; valid: {', '.join(COMPARE_PATHS)}")
        return value

    @model_validator(mode="after")
    def _one(self) -> "CompareSpec":
        if bool(self.within) == bool(self.by):
            raise ValueError("compare needs exactly one of 'within' (factors held equal in each comparison) "
                             "or 'by' (the factors under test)")
        return self


class BaseTrainSpec(TrainSpec):
    """A pretraining recipe in a study file: the seed comes from the study's seeds (so it is left out
    of the recipe's dump, and the stored study reads back as a study file)."""

    seed: int = Field(default=0, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _no_seed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "seed" in data:
            raise ValueError("seed is set by the study's 'seeds' list, not by the recipe")
        return data


class StudySpec(Spec):
    # First: plug-ins are loaded before the fields that name what they register are validated.
    plugins: list[str] = Field(default_factory=list)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    base: Annotated[
        Union[Annotated[str, Tag("path")], Annotated[BaseTrainSpec, Tag("recipe")]],
        Discriminator(lambda v: "path" if isinstance(v, str) else "recipe"),
    ]
    device: str | None = None  # overrides base.device (the retraining recipe follows the base's)
    retrain: RetrainRecipe | None = None
    arms: list[ArmSpec] = Field(min_length=1)
    ratios: list[float]
    seeds: list[StrictInt] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    reference: str
    compare: CompareSpec | None = None  # grouped comparisons (None: every arm vs the reference)
    jsv_samples: int | None = Field(default=None, ge=0)
    paper: dict[str, Any] | None = None

    @field_validator("plugins")
    @classmethod
    def _load_plugins(cls, value: list[str]) -> list[str]:
        from ..plugins import load_plugins

        load_plugins(value)  # relative file paths: against the working directory (parse_study made a file's absolute)
        return value

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: list[float]) -> list[float]:
        return check_ratios(value)

    @field_validator("paper")
    @classmethod
    def _paper(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_paper(value)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct integers, got {value}")
        return value

    def check_arms(self, source: str) -> None:
        """Cross-field checks (outside pydantic, whose model-level errors would echo the whole file)."""
        names = [a.name for a in self.arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"{source}: arms: duplicate arm names: {', '.join(dup)}")
        if self.reference not in names:
            raise ConfigError(f"{source}: reference: arm {self.reference!r} is not an arm; arms: {', '.join(names)}")

    def arm(self, name: str) -> ArmSpec:
        return next(a for a in self.arms if a.name == name)


RATIO_DIGITS = 6  # the report's grouping precision (report/aggregate.py RATIO_DIGITS; a test keeps them equal)


def check_paper(value: dict[str, Any]) -> dict[str, Any]:
    """``paper``: published accuracies (percent) the report shows beside the study's own, as
    ``{label: {ratio: accuracy}}``; a ratio in [0, 1), an accuracy a finite number in [0, 100] (or
    null: not published)."""
    for label, by_ratio in value.items():
        if not isinstance(label, str) or not label:
            raise ValueError(f"a label must be a non-empty string, got {label!r}")
        if not isinstance(by_ratio, dict):
            raise ValueError(f"{label}: must map pruning ratios to accuracies (percent), "
                             f"e.g. {{0.5: 93.1}}, got {type(by_ratio).__name__}")
        for ratio, acc in by_ratio.items():
            r = _number(ratio)
            if r is None or not 0.0 <= r < 1.0:
                raise ValueError(f"{label}: key {ratio!r} is not a pruning ratio in [0, 1)")
            if acc is not None and (_number(acc) is None or not 0.0 <= _number(acc) <= 100.0):
                raise ValueError(f"{label}.{ratio}: {acc!r} is not an accuracy in percent (0 to 100)")
    return value


def _number(value: Any) -> float | None:
    """A finite number (not a boolean), or a string that reads as one (JSON keys); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def check_ratios(value: list[float]) -> list[float]:
    if not value:
        raise ValueError("ratios must be a non-empty list of numbers in [0, 1)")
    for r in value:
        if not (math.isfinite(r) and 0.0 <= r < 1.0):
            raise ValueError(f"every ratio must be in [0, 1), got {r}")
    if len(set(value)) != len(value):
        dup = sorted({r for r in value if value.count(r) > 1})
        raise ValueError(f"ratios must be distinct, got {', '.join(f'{r:g}' for r in dup[:5])} more than once")
    seen: dict[object, float] = {}
    for r in value:  # the report groups ratios by RATIO_DIGITS decimals and prints them with :g
        for key in (round(float(r), RATIO_DIGITS), f"{r:g}"):
            if key in seen:
                raise ValueError(f"ratios {seen[key]!r} and {r!r} are equal at the precision the report prints "
                                 f"({RATIO_DIGITS} decimals, {r:g}); they would be pooled into one column")
            seen[key] = r
    return [float(r) for r in value]


def _one_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _absolute_plugins(data: dict[str, Any], relative_to: Path | None) -> dict[str, Any]:
    """Plug-in files named relative to the study file are made absolute (modules stay names)."""
    from ..plugins import is_file_spec

    plugins = data.get("plugins")
    if relative_to is None or not isinstance(plugins, list):
        return data
    fixed = [str((relative_to / p).resolve()) if isinstance(p, str) and is_file_spec(p) and not Path(p).expanduser().is_absolute()
             else p for p in plugins]
    return {**data, "plugins": fixed}


def parse_study(data: Any, source: str, relative_to: Path | None = None) -> StudySpec:
    """Validate the content of a study file (``relative_to``: its directory, for the relative paths
    of plug-in files); every error is one line naming the key and file."""
    from pydantic import ValidationError

    from .factorial import expand_arms, resolve_reference

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a study file must be a mapping of keys, got {type(data).__name__}")
    data = _absolute_plugins(data, relative_to)
    data = expand_arms(data, source)
    if isinstance(data.get("arms"), list) and "reference" in data:
        names = [a.get("name") for a in data["arms"] if isinstance(a, dict) and isinstance(a.get("name"), str)]
        data = {**data, "reference": resolve_reference(data.get("reference"), names)}
    try:
        study = StudySpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_short_union(format_validation_error(err, source))) from None
    except PrunebenchError as err:  # raised inside a validator (an unknown registry name, ...)
        raise ConfigError(f"{source}: {_one_line(err)}") from None
    study.check_arms(source)
    from .sanity import derive_sanity_arms

    return derive_sanity_arms(study, source)


def _short_union(message: str) -> str:
    """Drop the union tags pydantic puts into error locations (``base.recipe.epochs``)."""
    for field, tag in (("base", "recipe"), ("base", "path"), ("regime", "mapping"), ("regime", "name")):
        message = message.replace(f"{field}.{tag}.", f"{field}.").replace(f"{field}.{tag}:", f"{field}:")
    return message


def load_study(path: str | Path) -> StudySpec:
    return parse_study(read_yaml(path), str(path), Path(path).resolve().parent)


def regime_fields(study: StudySpec, arm: ArmSpec) -> dict[str, Any]:
    """RegimeSpec fields: the arm's regime and its parameters, then the study's default recipe
    overridden key by key by the arm's."""
    fields = arm.regime_choice().model_dump(exclude_none=True)
    for recipe in (study.retrain, arm.retrain):
        if recipe is None:
            continue
        given = {k: v for k, v in recipe.model_dump(exclude_none=True).items() if k in RETRAIN_KEYS}
        # An arm names its schedule one way: an explicit lr_schedule replaces a derived one and back.
        if "lr_schedule" in given:
            fields.pop("lr", None)
            fields.pop("final_lr", None)
        if "lr" in given:
            fields.pop("lr_schedule", None)
        fields.update(given)
    return fields


def resolve_base_dir(study: StudySpec, study_file: Path | None) -> Path | None:
    """The base model directory a study names (relative paths are relative to the study file's
    directory), checked to exist; None when the study trains its own bases."""
    if not isinstance(study.base, str):
        return None
    path = Path(study.base).expanduser()
    if not path.is_absolute() and study_file is not None:
        path = Path(study_file).resolve().parent / path
    where = study_file or "study"
    if not path.is_dir():
        raise ConfigError(f"{where}: base model directory {study.base!r} not found ({path})")
    missing = [f for f in ("model.json", "weights.safetensors") if not (path / f).is_file()]
    if missing:
        raise ConfigError(f"{where}: base {study.base!r} is not a model directory (missing {', '.join(missing)})")
    return path

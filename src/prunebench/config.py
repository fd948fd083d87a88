"""Frozen, validated specs (pydantic v2, ``extra="forbid"``), YAML load/dump, canonical JSON and ids.

A run's identity is the hash of its canonical spec (design rule 2). The canonical form leaves out
fields that still hold their default, so adding a field whose default keeps today's behaviour never
changes an existing id; it also leaves out fields that only say *where* things are (``data_dir``),
not what is computed. The stored ``spec.json`` always holds the full spec, every default written out.
"""
from __future__ import annotations

import hashlib
import json
import re
import stat
from pathlib import Path
import types
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import schedule as _schedule
from .errors import ConfigError, PrunebenchError
from .registry import DATASETS, MODELS

S = TypeVar("S", bound="Spec")

#: Fields that never enter a run id: ``data_dir`` locates inputs without changing results;
#: ``augmentation`` is derived (written out for the reader) from the data set and ``augment``.
NON_IDENTITY_FIELDS = frozenset({"data_dir", "augmentation"})

#: The training-time augmentations by name, with the data kind each applies to (``none``: any kind).
#: ``data/augment.py`` holds their implementations under the same names.
AUGMENTATIONS: dict[str, str | None] = {"none": None, "crop-flip": "image", "crop": "image", "shift": "signal"}
_RANK_KIND = {1: "vector", 2: "signal", 3: "image"}


def standard_augmentation(kind: str, flip: bool = True) -> str:
    """The usual augmentation of a data kind: padded crop (and flip) for images, shift for signals."""
    return {"image": "crop-flip" if flip else "crop", "signal": "shift"}.get(kind, "none")


def resolve_augmentation(dataset: str, augment: bool | str, input_shape: tuple[int, ...] | None) -> str:
    """The augmentation a data spec trains with. ``augment: true`` is the data set's registered
    default (its kind's standard augmentation, or ``none`` for a set registered with
    ``augment=False``); ``false`` is ``none``; a name must fit the data's kind."""
    meta = DATASETS.meta(dataset)
    kind = meta.get("kind", "any")
    if kind == "any":
        kind = _RANK_KIND.get(len(input_shape), "any") if input_shape else "any"
    if augment is False:
        return "none"
    if augment is True:
        if not meta.get("augment", True):
            return "none"
        if kind == "any":
            raise ValueError(f"data set {dataset!r} takes its kind from input_shape: give input_shape, or name "
                             f"the augmentation ({', '.join(AUGMENTATIONS)})")
        return standard_augmentation(kind, meta.get("flip", True))
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be true, false or one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
    fits = AUGMENTATIONS[augment]
    if fits is not None and kind != "any" and fits != kind:
        raise ValueError(f"augment {augment!r} is for {fits} data, but {dataset!r} is {kind} data")
    return augment


def _members(tp: Any) -> tuple[Any, ...]:
    origin = get_origin(tp)
    if origin is Annotated:
        return _members(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return tuple(m for a in get_args(tp) for m in _members(a))
    return (tp,)


def _bool_for_number(tp: Any, value: Any) -> bool:
    """Whether ``value`` holds a boolean where the annotation ``tp`` wants a number (pydantic's lax
    mode would read ``false`` as 0.0 and ``true`` as 1)."""
    members = _members(tp)
    if isinstance(value, bool):
        return bool not in members and Any not in members and any(m in (int, float) for m in members)
    if isinstance(value, (list, tuple)):
        items = [a for m in members if get_origin(m) in (list, tuple) for a in get_args(m) if a is not Ellipsis]
        return bool(items) and any(_bool_for_number(t, v) for v in value for t in items[:1])
    return False


#: The most epochs a training run may have (a larger number is a typo that would allocate its
#: per-epoch schedule before the first step).
MAX_EPOCHS = 100_000


class Spec(BaseModel):
    # allow_inf_nan=False: a non-finite number (``.inf``, ``.nan`` in YAML) is refused in every spec.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: Any) -> Any:
        if isinstance(value, (bool, list, tuple)):
            field = cls.model_fields.get(info.field_name)
            if field is not None and _bool_for_number(field.annotation, value):
                raise ValueError("a boolean is not a number")
        return value

    def canonical(self) -> dict[str, Any]:
        """The identity-bearing content: non-default fields only, locations dropped."""
        return _strip(self.model_dump(mode="json", exclude_defaults=True))

    def canonical_json(self) -> str:
        return canonical_text(self.canonical())

    def spec_hash(self, length: int = 12) -> str:
        return hash_canonical(self.canonical(), length)

    def full_json(self) -> dict[str, Any]:
        """Everything, defaults written out (what gets stored beside results)."""
        return self.model_dump(mode="json")


def canonical_text(canonical: dict[str, Any]) -> str:
    """The JSON text a canonical form is hashed as (sorted keys, no spaces)."""
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def hash_canonical(canonical: dict[str, Any], length: int = 12) -> str:
    """The run id of a canonical form (``Spec.canonical()``): the first ``length`` hex digits of the
    SHA-256 of its JSON text."""
    return hashlib.sha256(canonical_text(canonical).encode()).hexdigest()[:length]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in NON_IDENTITY_FIELDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


class DataSpec(Spec):
    """Which data set, how it is split and augmented."""

    name: str = "mnist1d"
    data_dir: str | None = None
    num_samples: int | None = Field(default=None, gt=0)
    val_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    # true: the data set's default (written out in ``augmentation``); false: none; or a name.
    augment: bool | Literal["none", "crop-flip", "crop", "shift"] = True
    augmentation: str | None = None  # derived, never an input: the augmentation training uses
    normalize: bool = True
    split_seed: int = 0
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = Field(default=None, ge=2)
    image_size: int | None = Field(default=None, gt=0)  # imagefolder: side of the centre crop

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        DATASETS.get(name)
        return name

    @field_validator("augment")
    @classmethod
    def _none_is_false(cls, value: bool | str) -> bool | str:
        return False if value == "none" else value  # one spelling, one run id

    @model_validator(mode="after")
    def _resolve_augmentation(self) -> "DataSpec":
        resolved = resolve_augmentation(self.name, self.augment, self.input_shape)
        if self.augmentation is not None and self.augmentation != resolved:
            raise ValueError(f"augmentation is derived from the data set and augment (here {resolved!r}); "
                             f"set augment instead of augmentation ({self.augmentation!r})")
        object.__setattr__(self, "augmentation", resolved)
        return self


class ModelSpec(Spec):
    """Which architecture (a registry name) with which keyword arguments."""

    name: str = "cnn1d"
    args: dict[str, Any] = Field(default_factory=dict)
    channels_last: bool = False

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        MODELS.get(name)
        return name

    @field_validator("args")
    @classmethod
    def _not_reserved(cls, args: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted({"input_shape", "num_classes", "seed"} & set(args))
        if reserved:
            raise ValueError(f"{reserved[0]!r} is not a model argument (input shape and classes come from the data, the seed from the run)")
        return args


DEVICE_NAMES = ("cpu", "cuda", "auto")


class TrainSpec(Spec):
    """One (re)training recipe: SGD with momentum, a written-out LR schedule, a seed."""

    # The default recipe is the tuned one for cnn1d on MNIST-1D (models/cnn1d.py: ~98% test accuracy).
    epochs: int = Field(default=40, ge=0, le=MAX_EPOCHS)
    lr_schedule: str = "0:0.1,20:0.01,30:0.001"
    batch_size: int = Field(default=128, gt=0)
    optimizer: Literal["sgd"] = "sgd"
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(default=5e-4, ge=0.0)
    seed: int = 0
    device: str = "cpu"
    # How exactly (docs/architecture.md, "Devices, determinism, precision"); each is left out of the
    # run id at its default, so the ids of specs written before these fields existed do not change.
    deterministic: bool = True  # cuDNN deterministic, benchmark off, deterministic algorithms (warn-only)
    tf32: bool = False  # TF32 matmuls and convolutions on GPUs that have it (off: full FP32)
    autocast: Literal["none", "bf16"] = "none"  # bf16 autocast of the training forward pass only

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> str:
        return _schedule.normalize(value)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        base = value.split(":", 1)[0]
        if base == "mps":
            raise ValueError("mps is not supported (prunebench accumulates in float64, which MPS lacks); use cpu or cuda")
        if base not in DEVICE_NAMES or (":" in value and (base != "cuda" or not value.split(":", 1)[1].isdigit())):
            raise ValueError(f"device must be one of {', '.join(DEVICE_NAMES)} or cuda:N")
        return value

    @property
    def schedule(self) -> _schedule.Schedule:
        return _schedule.parse(self.lr_schedule)

    def lrs(self) -> list[float]:
        return self.schedule.lrs(self.epochs)


def check_milestones(train: TrainSpec, what: str, where: str) -> None:
    """A step that starts at or after the run's last epoch never takes effect: an error, not a silently
    constant LR (``what`` names the recipe, e.g. ``base``; ``where`` the file or command)."""
    sched = train.schedule
    if sched.kind != "step" or train.epochs == 0:
        return
    late = [k for k, _ in sched.points[1:] if k >= train.epochs]
    if late:
        raise ConfigError(f"{where}: {what} lr_schedule {train.lr_schedule!r} changes the LR at epoch {late[0]}, "
                          f"but the run has {train.epochs} epochs (0 to {train.epochs - 1}): that step would never "
                          "happen; shorten the schedule or add epochs")


class TrainRunSpec(Spec):
    """Everything ``prunebench train`` needs to produce one dense model."""

    kind: Literal["train"] = "train"
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)


# ---------------------------------------------------------------------------------------------
# YAML / JSON I/O with one-line errors


def _short_repr(value: Any) -> str:
    """A bounded repr of an input (a giant value is shown by its start, never walked whole)."""
    import reprlib

    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlist, r.maxdict, r.maxlevel = 60, 60, 6, 6, 3
    return r.repr(value)


def format_validation_error(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}")
        elif e["type"] == "missing":
            parts.append(f"missing key {loc!r}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg} (got {_short_repr(e.get('input'))})")
    return f"{source}: " + "; ".join(parts)


def validate(cls: type[S], data: Any, source: str = "spec") -> S:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    except PrunebenchError as err:  # raised inside a validator (e.g. an unknown registry name)
        raise type(err)(f"{source}: {err}") from None


#: Limits of a YAML input (study files, configs), checked while it is read, before anything is built:
#: its size in bytes, its nesting depth, and its size in nodes once aliases are expanded (an alias
#: counts as the whole node it names, so an "alias bomb" is refused instead of growing to gigabytes).
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 100
MAX_YAML_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth and (alias-expanded) nodes while it composes, and
    refusing duplicate keys in a mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._sizes:
                raise _YamlLimit(f"alias *{event.anchor} refers to the node that contains it", event.start_mark)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = self._sizes.get(id(node))
        if size is None:
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._sizes.get(id(c), 1) for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
                self._check_keys(node)
            else:
                size = 1
            self._sizes[id(node)] = size
        if size > MAX_YAML_NODES:
            raise _YamlLimit(f"more than {MAX_YAML_NODES:,} values once its aliases are expanded", node.start_mark)
        return node

    @staticmethod
    def _check_keys(node: Any) -> None:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                ident = (key.tag, key.value)
                if ident in seen:
                    raise _YamlLimit(f"duplicate key {key.value!r}", key.start_mark)
                seen.add(ident)


# YAML 1.2 booleans: only true/false (any case PyYAML knows). YAML 1.1's yes/no/on/off/y/n stay
# strings, so a key such as ``on:`` (``tune: {on: validation}``) is the word, not the boolean True.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _YamlLimit(Exception):
    def __init__(self, what: str, mark: Any) -> None:
        super().__init__(what)
        self.what, self.mark = what, mark


def parse_yaml(text: str, source: str) -> Any:
    """The content of one YAML document, within the limits above; one-line ConfigErrors otherwise."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _YamlLimit as err:
        where = f" at line {err.mark.line + 1}" if err.mark is not None else ""
        raise ConfigError(f"{source}: refused{where}: {err.what}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"{source}: refused: nested too deeply") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content. The file must be a regular file (a FIFO, a device or ``/dev/stdin``
    could block or be endless) of at most MAX_YAML_BYTES of UTF-8 text."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{p}: cannot be read ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{p}: is a directory, not a YAML file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{p}: not a regular file (a pipe, device or socket); give a YAML file")
    if st.st_size > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: {st.st_size:,} bytes, more than the {MAX_YAML_BYTES:,} a YAML input may have")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{p}: cannot be read ({err.strerror})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: more than the {MAX_YAML_BYTES:,} bytes a YAML input may have")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{p}: not UTF-8 text (byte {err.start} on line {line})") from None
    return parse_yaml(text, str(p))


def load_yaml(cls: type[S], path: str | Path) -> S:
    return validate(cls, read_yaml(path), str(path))


def dump_yaml(spec: Spec) -> str:
    return yaml.safe_dump(spec.full_json(), sort_keys=False)

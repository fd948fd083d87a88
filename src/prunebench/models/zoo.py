"""The model registry and the one way to build a registered model.

A builder is ``fn(input_shape, num_classes, **args) -> nn.Module``, optionally with a keyword-only
``generator: torch.Generator`` parameter. It is registered with the shape and class count of the data
set the model is usually trained on, so ``build_model(name)`` alone gives the literature's
configuration. Initialisation is deterministic in the seed either way:

* a builder that takes ``generator`` initialises the model itself from it (``torch.nn.init`` functions
  accept ``generator=``); prunebench passes ``torch.Generator().manual_seed(seed)``;
* otherwise the model is built and then initialised by its ``reset_parameters()`` (or, without one,
  by its layers' own constructors) on a forked global RNG seeded with the seed.

``family`` names the filter-pruning convention of the model's layers (see pruning/layers.py):
``generic`` (the default: the dependency graph decides what is coupled and what is the output layer),
or one of the zoo's families, whose layer naming a plug-in model may share.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import MODELS

Builder = Callable[..., nn.Module]

#: Layer conventions a model may declare (pruning/layers.py has one per name).
FAMILIES = ("generic", "mlp", "cnn1d", "lenet", "resnet_cifar", "vgg", "resnet_imagenet")


def register_model(
    name: str, *, input_shape: tuple[int, ...], num_classes: int, description: str = "", family: str = "generic",
) -> Callable[[Builder], Builder]:
    """Decorator: register a builder under ``name`` with its usual input shape and class count."""
    if family not in FAMILIES:
        raise ConfigError(f"register_model({name!r}): unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"register_model({name!r}): input_shape must be a tuple of integers, got {input_shape!r}") from None
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"register_model({name!r}): num_classes must be a positive integer, got {num_classes!r}")

    def decorator(fn: Builder) -> Builder:
        params = list(inspect.signature(fn).parameters.values()) if callable(fn) else []
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) < 2:
            raise ConfigError(f"register_model({name!r}): the builder must take (input_shape, num_classes, **args)")
        MODELS.add(name, fn, family=family, input_shape=shape, num_classes=int(num_classes),
                   description=description or (inspect.getdoc(fn) or "").split("\n")[0])
        return fn

    return decorator


def model_info(name: str) -> dict[str, Any]:
    """``family``, ``input_shape``, ``num_classes`` and ``description`` of a registered model."""
    return MODELS.meta(name)


def build_model(
    name: str,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    *,
    seed: int | None = None,
    **args: Any,
) -> nn.Module:
    """Build a registered model, defaulting to its usual data shape, and initialise it (see the
    module docstring: from a generator, or with the model's own ``reset_parameters``, the same code
    that re-initialises a pruned model).

    With ``seed`` the initialisation is a function of it alone: the same seed gives bit-identical
    weights and the caller's global RNG state is left as it was.
    """
    builder = MODELS.get(name)
    meta = MODELS.meta(name)
    reserved = sorted({"input_shape", "num_classes", "seed", "generator"} & set(args))
    if reserved:
        raise ConfigError(f"model {name!r}: {reserved[0]!r} is not a model argument (it comes from the data / the run)")
    shape = _check_shape(name, meta["input_shape"] if input_shape is None else input_shape, meta)
    classes = _check_classes(name, meta["num_classes"] if num_classes is None else num_classes)
    if _takes_generator(builder):
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed))
        model = _construct(name, builder, shape, classes, {**args, "generator": gen})
    elif seed is None:
        model = _construct(name, builder, shape, classes, args)
        _reset(model)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))  # a model without reset_parameters is initialised here
            model = _construct(name, builder, shape, classes, args)
            # Seeding again right before the init makes the weights equal to those of
            # ``manual_seed(seed); model.reset_parameters()`` on any model of this shape.
            torch.manual_seed(int(seed))
            _reset(model)
    model.zoo_name = name
    model.zoo_args = {"input_shape": list(shape), "num_classes": classes, **args}
    model.zoo_family = meta["family"]
    return model


def _takes_generator(builder: Builder) -> bool:
    return "generator" in inspect.signature(builder).parameters


def _reset(model: nn.Module) -> None:
    """The model's own init; without a ``reset_parameters`` its constructor already initialised it."""
    reset = getattr(model, "reset_parameters", None)
    if callable(reset):
        reset()


def _construct(name: str, builder: Builder, shape: tuple[int, ...], classes: int, args: dict) -> nn.Module:
    valid = [p for p in list(inspect.signature(builder).parameters)[2:] if p != "generator"]
    unknown = sorted(set(args) - set(valid) - {"generator"})
    if unknown:
        raise ConfigError(
            f"model {name!r}: unknown argument {unknown[0]!r}; valid: {', '.join(valid) or '(none)'}"
        )
    model = builder(shape, classes, **args)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {name!r}: the builder returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _check_shape(name: str, shape: Any, meta: dict[str, Any]) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"model {name!r}: input_shape must be a list of integers, got {shape!r}") from None
    want = len(meta["input_shape"])
    # MLPs (and generic models, which know their own needs) take any rank; the zoo's conv nets need
    # (C, L) or (C, H, W).
    if meta["family"] not in ("mlp", "generic") and len(shape) != want:
        raise ConfigError(
            f"model {name!r}: input_shape must have {want} entries like {list(meta['input_shape'])}, got {list(shape)}"
        )
    if not shape or any(s < 1 for s in shape):
        raise ConfigError(f"model {name!r}: input_shape entries must be positive, got {list(shape)}")
    return shape


def _check_classes(name: str, classes: Any) -> int:
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ConfigError(f"model {name!r}: num_classes must be a positive integer, got {classes!r}")
    return classes


def positive_int(name: str, arg: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"model {name!r}: {arg} must be a positive integer, got {value!r}")
    return value


def choice(name: str, arg: str, value: Any, allowed: tuple) -> Any:
    """Check an enumerated builder argument, naming the allowed values when it is wrong."""
    if value not in allowed:
        raise ConfigError(f"model {name!r}: {arg} must be one of {list(allowed)}, got {value!r}")
    return value

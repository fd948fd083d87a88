"""The model registry and the one way to build a zoo model.

Every builder has the signature ``fn(input_shape, num_classes, **args) -> nn.Module`` and is
registered with the shape and class count of the data set the model is usually trained on, so
``build_model(name)`` alone gives the literature's configuration.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry

Builder = Callable[..., nn.Module]

MODELS: Registry[Builder] = Registry("model")

FAMILIES = ("mlp", "cnn1d", "lenet", "resnet_cifar", "vgg", "resnet_imagenet")


def register_model(
    name: str, *, family: str, input_shape: tuple[int, ...], num_classes: int, description: str
) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn(input_shape, num_classes, **args)`` under ``name`` with its defaults."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; valid: {', '.join(FAMILIES)}")
    return MODELS.register(
        name,
        family=family,
        input_shape=tuple(input_shape),
        num_classes=int(num_classes),
        description=description,
    )


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
    """Build a registered model, defaulting to its usual data shape, and initialise it with the
    model's own ``reset_parameters`` (the same code that re-initialises a pruned model).

    With ``seed`` the initialisation runs on a forked CPU RNG seeded with it: the same seed gives
    bit-identical weights and the caller's global RNG state is left as it was.
    """
    builder = MODELS.get(name)
    meta = MODELS.meta(name)
    reserved = sorted({"input_shape", "num_classes", "seed"} & set(args))
    if reserved:
        raise ConfigError(f"model {name!r}: {reserved[0]!r} is not a model argument (it comes from the data / the run)")
    shape = _check_shape(name, meta["input_shape"] if input_shape is None else input_shape, meta)
    classes = _check_classes(name, meta["num_classes"] if num_classes is None else num_classes)
    if seed is None:
        model = _construct(name, builder, shape, classes, args)
        model.reset_parameters()
    else:
        with torch.random.fork_rng(devices=[]):
            model = _construct(name, builder, shape, classes, args)
            # Seeding right before the init (not before construction) makes the weights equal to
            # those of ``manual_seed(seed); model.reset_parameters()`` on any model of this shape.
            torch.manual_seed(int(seed))
            model.reset_parameters()
    model.zoo_name = name
    model.zoo_args = {"input_shape": list(shape), "num_classes": classes, **args}
    return model


def _construct(name: str, builder: Builder, shape: tuple[int, ...], classes: int, args: dict) -> nn.Module:
    valid = list(inspect.signature(builder).parameters)[2:]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(
            f"model {name!r}: unknown argument {unknown[0]!r}; valid: {', '.join(valid) or '(none)'}"
        )
    return builder(shape, classes, **args)


def _check_shape(name: str, shape: Any, meta: dict[str, Any]) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"model {name!r}: input_shape must be a list of integers, got {shape!r}") from None
    want = len(meta["input_shape"])
    # MLPs flatten their input, so any rank works for them; the others need (C, L) or (C, H, W).
    if meta["family"] != "mlp" and len(shape) != want:
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

"""Dry checks that a study's recipes fit its data, before anything is written:

* the model can take the data's input shape (``resnet56`` on MNIST-1D's 1x40 signals cannot): the
  model is built for the data's shape and class count and fed one batch of zeros;
* no step in an LR schedule comes at or after the last epoch of its run, where it would never take
  effect (the LR would silently stay constant where the author expected a decay).

The data's shape comes from ``data.input_shape`` when given, else from the data set's known shape
(the built-in sets' shapes are fixed); a data set of unknown shape (an image folder) is left to run
time.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ..config import DataSpec, TrainSpec, check_milestones  # noqa: F401  (re-exported)
from ..errors import ConfigError, PrunebenchError

#: (input shape, classes) of the built-in data sets whose shape does not depend on the files.
KNOWN_SHAPES: dict[str, tuple[tuple[int, ...], int]] = {
    "mnist1d": ((1, 40), 10),
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
}


def data_shape(data: DataSpec) -> tuple[tuple[int, ...], int] | None:
    """(input shape, classes) of a data spec, None when only loading the data can tell."""
    if data.name == "synthetic":
        from ..data.synthetic import DEFAULT_CLASSES, DEFAULT_SHAPE

        return tuple(data.input_shape or DEFAULT_SHAPE), data.num_classes or DEFAULT_CLASSES
    known = KNOWN_SHAPES.get(data.name)
    if known is None:
        return (tuple(data.input_shape), data.num_classes) if data.input_shape and data.num_classes else None
    return tuple(data.input_shape or known[0]), data.num_classes or known[1]


@lru_cache(maxsize=128)
def _fits(model_json: str, shape: tuple[int, ...], classes: int) -> str | None:
    """None when the model takes a batch of this shape, else why not (one line)."""
    import torch

    from ..models import build_model
    from ..modes import eval_mode

    spec = json.loads(model_json)
    try:
        model = build_model(spec["name"], shape, classes, seed=0, **spec.get("args", {}))
        with torch.no_grad(), eval_mode(model):
            out = model(torch.zeros((2, *shape)))
    except PrunebenchError as err:
        return str(err).splitlines()[0]
    except (RuntimeError, ValueError, IndexError) as err:  # a layer that cannot take the shape
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if tuple(out.shape) != (2, classes):
        return f"it gives outputs of shape {tuple(out.shape)[1:]} for {classes} classes"
    return None


#: The most parameters a study's model may have (4 GB of float32 weights): a larger one (a typo
#: such as ``width: 10000000``) is refused before any weight is allocated.
MAX_PARAMS = 1_000_000_000


@lru_cache(maxsize=128)
def _param_count(model_json: str, shape: tuple[int, ...] | None, classes: int | None) -> int | None:
    """Parameters of the model, counted on the meta device (no memory allocated); None when the
    model cannot be built there (a plug-in model's own affair: it is then built for real later)."""
    import torch

    from ..models import build_model

    spec = json.loads(model_json)
    where = (shape, classes) if shape is not None else ()
    try:
        with torch.device("meta"):
            model = build_model(spec["name"], *where, seed=0, **spec.get("args", {}))
    except Exception:  # a model that cannot be built for this shape: check_model_fits_data says why
        return None
    return sum(p.numel() for p in model.parameters())


def check_model_size(model: Any, data: DataSpec, where: str) -> None:
    found = data_shape(data)
    shape, classes = found if found is not None else (None, None)
    n = _param_count(json.dumps(model.full_json(), sort_keys=True), shape, classes)
    if n is not None and n > MAX_PARAMS:
        raise ConfigError(f"{where}: model {model.name!r} has {n:,} parameters; at most {MAX_PARAMS:,} "
                          "are allowed (check its args)")


def check_model_fits_data(model: Any, data: DataSpec, where: str) -> None:
    found = data_shape(data)
    if found is None:
        return
    shape, classes = found
    why = _fits(json.dumps(model.full_json(), sort_keys=True), shape, classes)
    if why is not None:
        shown = "x".join(map(str, shape))
        raise ConfigError(f"{where}: model {model.name!r} cannot take {data.name}'s inputs ({shown}, "
                          f"{classes} classes): {why}")


def check_fit(spec: Any, base_recipe: TrainSpec | None, where: str) -> None:
    """Every fit check of one pipeline run (``spec``: a PipelineSpec) whose base recipe is known."""
    from ..pipeline.regimes import RegimeContext, resolve
    from .check import _prune_counts

    check_model_size(spec.model, spec.data, where)
    check_model_fits_data(spec.model, spec.data, where)
    if base_recipe is not None:
        check_milestones(base_recipe, "base", where)
        dense, pruned = _prune_counts(json.dumps(spec.model.full_json(), sort_keys=True),
                                      json.dumps(spec.prune.full_json(), sort_keys=True))
        resolved = resolve(spec.regime, RegimeContext(base_recipe, dense, pruned, spec.seed))
        check_milestones(resolved.retrain, "retraining", where)

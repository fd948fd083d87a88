"""prunebench: fair, reproducible benchmarking of neural-network pruning.

The Python API mirrors the command line; the main entry points are importable from here (loaded on
first use, so ``import prunebench`` stays light):

* ``prunebench.train_dense(spec, out)`` -- ``prunebench train``
* ``prunebench.prune(model, spec)`` -- ``prunebench prune`` (any ``nn.Module``; returns model, plan, report)
* ``prunebench.replay(plan, dense)`` -- ``prunebench replay`` (the recorded re-init included)
* ``prunebench.run_pipeline(spec, out, base_dir=...)`` -- ``prunebench pipeline``
* ``prunebench.run_study(study, out)`` -- ``prunebench run`` (a path, a dict or a ``StudySpec``)
* ``prunebench.jsv_stats(model, inputs)`` -- ``prunebench jsv``
* ``prunebench.load_model(model_dir)`` -- any model directory, pruned ones included

The plug-in contract (docs/extending.md), which the built-ins use too:

* ``prunebench.Criterion`` / ``prunebench.ScoreInput`` and ``@prunebench.register_criterion``
* ``@prunebench.register_model(name, input_shape=..., num_classes=...)``
* ``@prunebench.register_dataset(name, kind=..., description=...)`` returning ``prunebench.RawData``
* ``prunebench.Regime`` and ``@prunebench.register_regime``
* ``prunebench.Method`` / ``prunebench.StageArgs`` and ``@prunebench.register_method`` (methods
  with a pruning stage)
* ``prunebench.load_plugins([...])``; ``prunebench.testing`` holds the contract checks.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .errors import ConfigError, DataError, PrunebenchError  # noqa: E402

if TYPE_CHECKING:  # what type checkers see; at run time each name is imported on first use
    from . import testing
    from .data.base import RawData, register_dataset
    from .loading import load_model
    from .metrics.trainability import jsv_stats
    from .models.zoo import register_model
    from .pipeline import run_pipeline
    from .pipeline.regimes.base import Regime, RegimeContext, Resolved, register_regime
    from .plugins import load_plugins
    from .pruning import prune
    from .pruning.criteria import Criterion, ScoreInput, register_criterion
    from .pruning.methods.base import Method, StageArgs, register_method
    from .pruning.replaying import replay
    from .study import StudySpec, run_study
    from .train.run import train_dense

_LAZY = {
    "train_dense": "prunebench.train.run",
    "prune": "prunebench.pruning",
    "replay": "prunebench.pruning.replaying",
    "run_pipeline": "prunebench.pipeline",
    "run_study": "prunebench.study",
    "StudySpec": "prunebench.study",
    "jsv_stats": "prunebench.metrics.trainability",
    "load_model": "prunebench.loading",
    "Criterion": "prunebench.pruning.criteria",
    "ScoreInput": "prunebench.pruning.criteria",
    "register_criterion": "prunebench.pruning.criteria",
    "register_model": "prunebench.models.zoo",
    "register_dataset": "prunebench.data.base",
    "RawData": "prunebench.data.base",
    "Regime": "prunebench.pipeline.regimes.base",
    "RegimeContext": "prunebench.pipeline.regimes.base",
    "Resolved": "prunebench.pipeline.regimes.base",
    "register_regime": "prunebench.pipeline.regimes.base",
    "load_plugins": "prunebench.plugins",
    "Method": "prunebench.pruning.methods.base",
    "StageArgs": "prunebench.pruning.methods.base",
    "register_method": "prunebench.pruning.methods.base",
}

__all__ = ["__version__", "PrunebenchError", "ConfigError", "DataError", "testing", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name == "testing":
        return import_module("prunebench.testing")
    raise AttributeError(f"module 'prunebench' has no attribute {name!r}")

"""prunebench: fair, reproducible benchmarking of neural-network pruning.

The Python API mirrors the command line; the main entry points are importable from here (loaded on
first use, so ``import prunebench`` stays light):

* ``prunebench.train_dense(spec, out)`` -- ``prunebench train``
* ``prunebench.prune(model, spec)`` -- ``prunebench prune`` (returns model, plan, report)
* ``prunebench.run_pipeline(spec, out, base_dir=...)`` -- ``prunebench pipeline``
* ``prunebench.run_study(study_file, out)`` -- ``prunebench run``
* ``prunebench.jsv_stats(model, inputs)`` -- ``prunebench jsv``
* ``prunebench.load_model(model_dir)`` -- any model directory, pruned ones included
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

from .errors import ConfigError, DataError, PrunebenchError  # noqa: E402

_LAZY = {
    "train_dense": "prunebench.train.run",
    "prune": "prunebench.pruning",
    "run_pipeline": "prunebench.pipeline",
    "run_study": "prunebench.study",
    "jsv_stats": "prunebench.metrics.trainability",
    "load_model": "prunebench.artifacts",
}

__all__ = ["__version__", "PrunebenchError", "ConfigError", "DataError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prunebench' has no attribute {name!r}")

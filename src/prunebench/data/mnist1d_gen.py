"""mnist1d: the embedded default data set, generated offline and cached as .npz.

The ``mnist1d`` package's own generator is used with its default arguments (only ``num_samples`` may
change). Its download path is never touched: that would fetch a pickle from the network.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import register_dataset, RawData, as_labels, cache_dir

_ARRAYS = ("x", "y", "x_test", "y_test")
# Bump when the cached file layout changes, so stale caches are regenerated rather than misread.
_FORMAT = 1


def _generator_args(num_samples: int | None) -> dict:
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)  # never used: generation is offline
    if num_samples is not None:
        args["num_samples"] = int(num_samples)
    return args


def cache_path(args: dict) -> Path:
    """One file per generator configuration: any changed default gives a new name, not a stale hit."""
    key = json.dumps({"format": _FORMAT, **args}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir() / "mnist1d" / f"mnist1d-n{args['num_samples']}-{digest}.npz"


def _generate(args: dict) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    # The generator seeds the global `random` and numpy RNGs; put them back so nothing else is affected.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x": np.asarray(d["x"], dtype=np.float32),
        "y": np.asarray(d["y"], dtype=np.int64),
        "x_test": np.asarray(d["x_test"], dtype=np.float32),
        "y_test": np.asarray(d["y_test"], dtype=np.int64),
    }


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in _ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a truncated or foreign file: regenerate it


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # Write then rename, so a concurrent reader never sees half a file.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as err:
        raise DataError(f"mnist1d: cannot write cache {path}: {err.strerror or err}") from None


def load_arrays(num_samples: int | None) -> tuple[dict[str, np.ndarray], bool]:
    """The generated arrays and whether they came from the cache."""
    args = _generator_args(num_samples)
    path = cache_path(args)
    cached = _read_cache(path)
    if cached is not None:
        return cached, True
    arrays = _generate(args)
    _write_cache(path, arrays)
    return arrays, False


@register_dataset("mnist1d", kind="signal", description="MNIST-1D, generated offline by the mnist1d package (the embedded default), 1x40, 10 classes")
def load_mnist1d(spec) -> RawData:
    if spec.num_samples is not None and spec.num_samples < 20:
        raise DataError(f"mnist1d: num_samples must be at least 20 (got {spec.num_samples})")
    arrays, _ = load_arrays(spec.num_samples)
    return RawData(
        name="mnist1d",
        kind="signal",
        num_classes=10,
        train_x=torch.from_numpy(arrays["x"]).unsqueeze(1),
        train_y=as_labels(arrays["y"]),
        test_x=torch.from_numpy(arrays["x_test"]).unsqueeze(1),
        test_y=as_labels(arrays["y_test"]),
    )

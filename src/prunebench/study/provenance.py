"""Provenance of a run: which code, which software, which machine produced a number.

Collected in the process that does the work (a Ray worker on another host reports its own host and
device), cached per process because the git and version look-ups do not change while it lives.
"""
from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _checkout_root() -> Path | None:
    """The git checkout prunebench is imported from, if any (an installed wheel has none)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / ".git").exists():
            return parent
    return None


@functools.lru_cache(maxsize=1)
def code_provenance() -> dict[str, Any]:
    import numpy
    import torch

    from .. import __version__

    root = _checkout_root()
    commit = dirty = None
    if root is not None:
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": {"prunebench": __version__, "torch": torch.__version__, "numpy": numpy.__version__},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "executable": sys.executable,
    }


def run_provenance(device: str | None = None, executed: str | None = None) -> dict[str, Any]:
    """Everything about the current process that can change a result: the device the spec asked
    for (``device``), the one it ran on (``executed``, default the same; ``auto`` resolved), the
    physical GPU behind it (name, UUID), the CUDA and cuDNN versions, the visible GPUs."""
    import sys as _sys

    import torch

    from ..devices import cuda_provenance, resolve_device
    from ..errors import PrunebenchError
    from ..plugins import recorded

    info = dict(code_provenance())
    info["plugins"] = recorded()  # outside code loaded in this process: module, version, source hash
    info["threads"] = torch.get_num_threads()
    info["device_requested"] = device or "cpu"
    where = executed or device or "cpu"
    try:
        resolved = str(resolve_device(where))  # "auto" says nothing about where a run ran
    except PrunebenchError:
        resolved = where
    info["device"] = resolved
    info.update(cuda_provenance(resolved if resolved.split(":")[0] in ("cpu", "cuda") else "cpu"))
    if "ray" in _sys.modules:  # a Ray task: the GPUs Ray assigned it
        try:
            ray = _sys.modules["ray"]
            if ray.is_initialized():
                info["ray_gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
        except Exception:  # not inside a task, or an older Ray
            pass
    return info

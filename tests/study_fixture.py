"""A tiny finished study (one base, two pipeline runs, about three seconds), run once per test process
and copied by the tests that need one (the storage tests and the hostile-study table)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

STUDY = {
    "name": "tiny",
    "data": {"name": "synthetic", "input_shape": [16], "num_classes": 4, "num_samples": 128},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16}},
    "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
    "retrain": {"epochs": 2, "lr": 0.01},
    "arms": [{"name": "l1", "criterion": "l1"}, {"name": "rand", "criterion": "random"}],
    "ratios": [0.25],
    "seeds": [0],
    "reference": "l1",
    "jsv_samples": 8,
}

_DONE: list[Path] = []


def finished_study() -> Path:
    """The finished study directory (shared; never change it: copy it with :func:`copy_study`)."""
    if not _DONE:
        from prunebench.study import run_study

        root = Path(tempfile.mkdtemp(prefix="pb-tiny-study-"))
        path = root / "study.yaml"
        path.write_text(yaml.safe_dump(STUDY))
        assert run_study(path, root / "out", progress=False, quiet=True) == 0
        _DONE.append(root / "out")
    return _DONE[0]


def copy_study(dest: Path) -> Path:
    """A copy of the finished study at ``dest`` (its SQLite side files dropped, as a copy made by
    rsync or an archive of a closed study would have none)."""
    shutil.copytree(finished_study(), dest)
    for side in ("study.sqlite-wal", "study.sqlite-shm", ".driver.lock"):
        (dest / side).unlink(missing_ok=True)
    return dest


def write_study(path: Path, **changes) -> Path:
    study = {**STUDY, **changes}
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def make_read_only(root: Path) -> bool:
    """Make ``root`` and everything under it read-only, for root too where possible (the immutable
    attribute; plain permissions do not stop root). Returns False when that cannot be done here."""
    if os.geteuid() != 0:
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return True
    try:
        subprocess.run(["chattr", "-R", "+i", str(root)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def make_writable(root: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)
    else:
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)

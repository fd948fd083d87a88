"""The contract every hostile input must meet through the CLI, shared by the hostile-input tables.

A case is a name, a `setup(tmp_path) -> argv` that writes the hostile files and returns the command
line, and optionally the text the one-line error must contain. `check_case` runs the command in this
process (so a traceback cannot hide in a child), and asserts: exit status 2, exactly one line on
stderr, starting with "prunebench: error:", no traceback anywhere, and nothing half-written (the files
under `tmp_path` after the command are those before it, byte for byte, apart from paths the case
declares it may create).
"""
from __future__ import annotations

import contextlib
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from prunebench import plugins, registry
from prunebench.cli import main


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path], list[str]]
    says: str = ""  # a fragment the error line must contain (case-insensitive)
    may_create: tuple[str, ...] = field(default=())  # relative paths (prefixes) the command may leave


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root with a digest of its content ("dir" for directories)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            out[rel] = "dir"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "special"
    return out


@contextlib.contextmanager
def isolated_registries():
    """Whatever a case's plug-in registers (in this process, through `--plugin`) is gone afterwards,
    so a hostile data set or model never leaks into the registry-wide contract tests."""
    regs = [r for r in vars(registry).values() if isinstance(r, registry.Registry)]
    for r in regs:  # the built-ins loaded first, else a first load inside the case is undone with it
        r._ensure_loaded()
    saved = [(r, dict(r._items), dict(r._meta), dict(r._origin), r._loaded) for r in regs]
    loaded, modules = dict(plugins._LOADED), set(sys.modules)
    try:
        yield
    finally:
        for r, items, meta, origin, was_loaded in saved:
            r._items, r._meta, r._origin, r._loaded = items, meta, origin, was_loaded
        plugins._LOADED.clear()
        plugins._LOADED.update(loaded)
        for name in set(sys.modules) - modules:
            if name.startswith("prunebench_plugin_"):
                del sys.modules[name]


def check_case(case: Case, tmp_path: Path, capsys) -> str:
    argv = case.setup(tmp_path)
    capsys.readouterr()
    before = snapshot(tmp_path)
    with isolated_registries():
        code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err + captured.out, f"{case.name}: traceback\n{captured.err}"
    assert code == 2, f"{case.name}: exit {code}, stderr:\n{captured.err}"
    assert len(err_lines) == 1, f"{case.name}: expected one error line, got:\n{captured.err}"
    line = err_lines[0]
    assert line.startswith("prunebench: error:"), f"{case.name}: {line}"
    if case.says:
        assert case.says.lower() in line.lower(), f"{case.name}: {line!r} does not say {case.says!r}"
    after = snapshot(tmp_path)
    new = {p for p in after if p not in before or after[p] != before[p]}
    new = {p for p in new if not any(p == m or p.startswith(m.rstrip("/") + "/") for m in case.may_create)}
    gone = {p for p in before if p not in after}
    assert not new and not gone, f"{case.name}: half-written or removed: new/changed {sorted(new)}, gone {sorted(gone)}"
    return line

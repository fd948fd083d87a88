"""Loading outside code: plug-in modules, plug-in files and installed entry points.

A plug-in is an importable module name (``mylab.pruning``) or a path to a ``.py`` file. Importing it
runs its ``@register_*`` decorators, which add its criteria, models, data sets or regimes to the
registries. Installed packages may also declare entry points, one group per kind (see
:data:`prunebench.registry.ENTRY_POINT_GROUPS`); a registry loads its group on first lookup.

Every plug-in loaded in a process is recorded as a :class:`PluginInfo`: its spec (as given), the
module it became, the file it came from, the installed distribution's version, and a hash of its
source files. The driver ships the specs to every worker (``worker_specs``), workers load them before
they validate a spec, and the records go into a study's meta and every run's provenance.

Errors (a plug-in that fails to import, a file that does not exist, a name that is taken) are one-line
:class:`~prunebench.errors.ConfigError`\\ s naming the plug-in.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as metadata
import importlib.util
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError

#: Loaded plug-ins of this process, by module name (in load order).
_LOADED: dict[str, "PluginInfo"] = {}
_GROUPS_LOADED: set[str] = set()


@dataclass(frozen=True)
class PluginInfo:
    spec: str  # as given: a module name, a file path, or "entry-point:GROUP:NAME"
    module: str  # the module it was imported as
    file: str | None  # its source file (a package: its __init__.py)
    distribution: str | None  # the installed distribution that provides it, if any
    version: str | None  # that distribution's version
    source_sha256: str  # over every .py file of the module (a package: all its modules)
    path_entry: str | None  # the sys.path entry it was found under (shipped to Ray workers)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _source_files(module: Any) -> list[Path]:
    file = getattr(module, "__file__", None)
    if not file:
        return []
    path = Path(file)
    if path.name == "__init__.py":
        return sorted(p for p in path.parent.rglob("*.py") if "__pycache__" not in p.parts)
    return [path]


def source_hash(module: Any) -> str:
    """SHA-256 (16 hex) over the relative names and bytes of a module's source files."""
    files = _source_files(module)
    h = hashlib.sha256()
    root = files[0].parent if files else None
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _distribution(module_name: str) -> tuple[str | None, str | None]:
    top = module_name.split(".", 1)[0]
    try:
        dists = metadata.packages_distributions().get(top) or []
    except Exception:  # a broken metadata entry elsewhere must not stop a plug-in from loading
        dists = []
    for dist in dists:
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None, None


def _path_entry(module: Any) -> str | None:
    file = getattr(module, "__file__", None)
    if not file:
        return None
    depth = module.__name__.count(".") + (2 if Path(file).name == "__init__.py" else 1)
    return str(Path(file).resolve().parents[depth - 1])


def _record(spec: str, module: Any, file: str | None = None) -> PluginInfo:
    dist, version = _distribution(module.__name__)
    info = PluginInfo(
        spec=spec, module=module.__name__, file=file or getattr(module, "__file__", None),
        distribution=dist, version=version, source_sha256=source_hash(module),
        path_entry=None if file else _path_entry(module),
    )
    _LOADED.setdefault(module.__name__, info)
    return _LOADED[module.__name__]


def is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def file_module_name(path: Path) -> str:
    """A stable module name for a plug-in file (the same file gets the same name in every process)."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"prunebench_plugin_{stem}_{digest}"


def _import_file(spec: str, path: Path) -> PluginInfo:
    if not path.is_file():
        raise ConfigError(f"plugin {spec!r}: no such file ({path})")
    name = file_module_name(path)
    if name in _LOADED:
        return _LOADED[name]
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ConfigError(f"plugin {spec!r}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as err:
        sys.modules.pop(name, None)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        raise ConfigError(f"plugin {spec!r} failed to load: {_one_line(err)}") from None
    return _record(str(path), module, str(path))


def _import_module(spec: str) -> PluginInfo:
    if spec in _LOADED:
        return _LOADED[spec]
    try:
        module = importlib.import_module(spec)
    except BaseException as err:
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        raise ConfigError(f"plugin {spec!r} failed to load: {_one_line(err)}") from None
    return _record(spec, module)


def load_plugin(spec: str, relative_to: str | Path | None = None) -> PluginInfo:
    """Import one plug-in (a module name or a ``.py`` path; relative paths against ``relative_to``,
    else the working directory). Loading the same plug-in again is a no-op."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a plugin must be a module name or a .py file path, got {spec!r}")
    spec = spec.strip()
    if is_file_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_absolute():
            path = Path(relative_to or ".") / path
        return _import_file(spec, path.resolve())
    return _import_module(spec)


def load_plugins(specs: Iterable[str], relative_to: str | Path | None = None) -> list[PluginInfo]:
    return [load_plugin(s, relative_to) for s in specs]


def load_entry_points(group: str) -> None:
    """Import the module of every installed entry point of ``group`` (once per process).

    An entry point names the module whose import registers the plug-ins (``fpgm = mylab.fpgm``; an
    ``:object`` part is allowed and must exist). A module already being imported (it is registering
    right now and triggered this look-up) is not imported again."""
    if group in _GROUPS_LOADED:
        return
    _GROUPS_LOADED.add(group)
    for ep in metadata.entry_points(group=group):
        label = f"plugin entry point {ep.name!r} ({ep.value}) of {group}"
        if ep.module not in sys.modules:
            try:
                importlib.import_module(ep.module)
            except ConfigError as err:
                raise ConfigError(f"{label}: {err}") from None
            except Exception as err:
                raise ConfigError(f"{label} failed to load: {_one_line(err)}") from None
            if ep.attr and not hasattr(sys.modules[ep.module], ep.attr.split(".")[0]):
                raise ConfigError(f"{label}: module {ep.module} has no {ep.attr!r}")
        _record(f"entry-point:{group}:{ep.name}", sys.modules[ep.module])


def loaded() -> list[PluginInfo]:
    """The plug-ins loaded in this process so far, in load order."""
    return list(_LOADED.values())


def recorded() -> list[dict[str, Any]]:
    """Plain records of :func:`loaded` (what provenance and a study's meta store)."""
    return [p.record() for p in loaded()]


def worker_specs(extra_modules: Iterable[str] = ()) -> list[dict[str, str | None]]:
    """What a worker must load to see what this process sees: every loaded plug-in (files by path,
    modules by name and the sys.path entry they came from), plus ``extra_modules`` (modules outside
    prunebench that registered something the study uses without being given as plug-ins)."""
    out: list[dict[str, str | None]] = []
    seen: set[str] = set()
    for p in loaded():
        spec = p.file if p.module.startswith("prunebench_plugin_") else p.module
        out.append({"spec": spec, "path": p.path_entry})
        seen.add(p.module)
    for name in extra_modules:
        if name in seen or name in sys.modules and name.startswith("prunebench_plugin_"):
            continue
        module = sys.modules.get(name)
        out.append({"spec": name, "path": _path_entry(module) if module is not None else None})
        seen.add(name)
    return out


def load_worker_specs(specs: Iterable[dict[str, str | None]]) -> None:
    """In a worker: put each plug-in's sys.path entry in place and load it."""
    for item in specs:
        path = item.get("path")
        if path and path not in sys.path:
            sys.path.append(path)
        load_plugin(str(item["spec"]))

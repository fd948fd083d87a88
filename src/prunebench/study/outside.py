"""Outside code in a study: which plug-in modules its runs use, whether workers can import them, and
whether a resumed study's plug-ins are the ones its stored results came from."""
from __future__ import annotations

from typing import Any, Iterable

from ..errors import ConfigError
from ..registry import CRITERIA, DATASETS, MODELS, REGIMES, REINITS


def _names(spec: dict[str, Any]) -> Iterable[tuple[Any, str]]:
    if "data" in spec:
        yield DATASETS, spec["data"]["name"]
    if "model" in spec:
        yield MODELS, spec["model"]["name"]
    if "prune" in spec:
        yield CRITERIA, spec["prune"]["criterion"]
    if "regime" in spec:
        yield REGIMES, spec["regime"]["name"]
    if "reinit" in spec:
        yield REINITS, spec["reinit"]


def outside_origins(specs: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Module -> the registry entries it provides that these run specs use, for every module outside
    prunebench itself (``__main__`` for a script or notebook)."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        for registry, name in _names(spec):
            origin = registry.origin(name)
            if origin == "prunebench" or origin.startswith("prunebench."):
                continue
            label = f"{registry.kind} {name!r}"
            if label not in out.setdefault(origin, []):
                out[origin].append(label)
    return out


def check_importable(origins: dict[str, list[str]], in_process: bool) -> None:
    """Workers in other processes import plug-ins by module name or file; an object registered in a
    script or notebook (``__main__``) exists only in this process."""
    if in_process or "__main__" not in origins:
        return
    what = ", ".join(origins["__main__"])
    raise ConfigError(f"{what} registered in __main__ (a script or notebook) cannot be imported by pool or Ray workers: "
                      "move it into a module or a .py file and list it under plugins: (or --plugin), or run with one worker")


def plugin_changes(before: list[dict[str, Any]] | None, now: list[dict[str, Any]]) -> list[str]:
    """One line per plug-in whose source differs from when the study's results were recorded."""
    if not before:
        return []
    current = {p["module"]: p for p in now}
    out = []
    for old in before:
        new = current.get(old.get("module"))
        if new is not None and new.get("source_sha256") != old.get("source_sha256"):
            out.append(f"{old['module']} (source {old.get('source_sha256')} -> {new.get('source_sha256')}"
                       + (f", version {old.get('version')} -> {new.get('version')}" if old.get("version") != new.get("version") else "")
                       + ")")
    return out

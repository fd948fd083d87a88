"""The registries: one per plug-in kind (datasets, models, criteria, regimes, reinits, presets, methods).

A :class:`Registry` maps names to plug-ins. It fills itself on first lookup: first the built-in
modules it names (imported by name, so that low layers such as ``config`` can validate a model or data
set name without importing ``models`` or ``data``), then the entry points of installed packages in its
group (``prunebench.criteria``, ``prunebench.models``, ...). A plug-in module or file given by a study's
``plugins:`` or ``--plugin`` registers through the same decorators (see :mod:`prunebench.plugins`).

Registering a name twice is a :class:`~prunebench.errors.ConfigError`; looking up an unknown name
raises one that lists the valid names.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> plug-ins of one kind, with built-ins and entry points loaded on first lookup."""

    def __init__(self, kind: str, *, builtins: tuple[str, ...] = (), group: str | None = None) -> None:
        self.kind = kind
        self.builtins = builtins
        self.group = group
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._origin: dict[str, str] = {}  # name -> module that registered it
        self._loaded = False

    # -- registration ------------------------------------------------------------------------
    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        # Built-ins and entry points first: a plug-in that takes a built-in's name is the one refused.
        self._ensure_loaded()
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._items:
            raise ConfigError(f"{self.kind} name {name!r} is already taken (registered by {self._origin[name]})")
        self._items[name] = obj
        self._meta[name] = dict(meta)
        self._origin[name] = str(getattr(obj, "__module__", None) or "?")

    # -- lookup ----------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # set first: a built-in module may look names up while it registers
        for module in self.builtins:
            importlib.import_module(module)
        if self.group:
            from .plugins import load_entry_points

            load_entry_points(self.group)

    def get(self, name: str) -> T:
        self._ensure_loaded()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._items))}"
            ) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def origin(self, name: str) -> str:
        """The module that registered ``name`` (``__main__`` for a script or notebook)."""
        self.get(name)
        return self._origin[name]

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._items)


#: Every plug-in kind, defined here (the bottom layer) so that any layer can look names up.
DATASETS: Registry[Any] = Registry("dataset", builtins=("prunebench.data",), group="prunebench.datasets")
MODELS: Registry[Any] = Registry("model", builtins=("prunebench.models",), group="prunebench.models")
CRITERIA: Registry[Any] = Registry("criterion", builtins=("prunebench.pruning.criteria", "prunebench.pruning.methods.fpgm", "prunebench.pruning.methods.hrank"), group="prunebench.criteria")
REGIMES: Registry[Any] = Registry("regime", builtins=("prunebench.pipeline.regimes",), group="prunebench.regimes")
REINITS: Registry[Any] = Registry("reinit", builtins=("prunebench.pruning.reinit",), group="prunebench.reinits")
PRESETS: Registry[Any] = Registry("pruning preset", builtins=("prunebench.pruning.presets",))
METHODS: Registry[Any] = Registry("method", builtins=tuple(f"prunebench.pruning.methods.{m}" for m in (
    "oneshot", "slimming", "greg", "tpp", "agp", "imp", "sfp")), group="prunebench.methods")

#: Entry-point group of each plug-in kind, as documented in docs/extending.md.
ENTRY_POINT_GROUPS = {r.kind: r.group for r in (DATASETS, MODELS, CRITERIA, REGIMES, REINITS, METHODS) if r.group}

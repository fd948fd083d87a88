"""Pruning methods (score + ratio scheme + schedule), each its own module, registered like a
plug-in through :func:`prunebench.register_method`; see ``base.py`` for the contract. The METHODS
registry imports the built-in modules (``BUILTIN_METHODS``) on first lookup."""
from .base import DEFAULT_METHOD, Hooks, Method, StageArgs, StageContext, get_method, register_method  # noqa: F401

__all__ = ["DEFAULT_METHOD", "Hooks", "Method", "StageArgs", "StageContext", "get_method", "register_method"]

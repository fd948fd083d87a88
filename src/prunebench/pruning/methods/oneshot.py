"""One-shot: score once, cut once, no pruning stage (every prunebench run before methods existed)."""
from __future__ import annotations

from .base import DEFAULT_METHOD, Method, NoArgs, register_method


@register_method
class OneShot(Method):
    name = DEFAULT_METHOD
    description = "score the base model once with the prune spec's criterion and cut (no pruning stage)"
    Args = NoArgs
    example = {}
    has_stage = False

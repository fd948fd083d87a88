"""Small helpers shared by the command modules."""
from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import ConfigError


def print_json(data: Any) -> None:
    from ..artifacts import json_ready

    json.dump(json_ready(data), sys.stdout, indent=2, sort_keys=True, default=str, allow_nan=False)
    sys.stdout.write("\n")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise ConfigError(f"--input-shape must be integers separated by commas (e.g. 3,32,32), got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise ConfigError(f"--input-shape must be positive integers, got {text!r}")
    return shape


def set_nested(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, last = dotted.split(".")
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key!r} must be a mapping to set {dotted!r}")
        node = child
    node[last] = value

"""``prunebench methods``: the pruning methods, their pruning-stage parameters and defaults."""
from __future__ import annotations

import argparse

from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("methods", help="list the pruning methods with their pruning-stage parameters and defaults")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_methods)


def _methods(args: argparse.Namespace) -> int:
    from ..pruning.methods.base import get_method, parameters
    from ..registry import METHODS

    rows = []
    for name in METHODS.names():
        method = get_method(name)
        rows.append({"name": name, "stage": method.has_stage, "description": method.description,
                     "strength": method.strength or None,
                     "parameters": [{"name": k, "type": t, "default": d} for k, t, d in parameters(name)]})
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']}: {row['description']}" + ("" if row["stage"] else " [no pruning stage]"))
        if row["strength"]:
            print(f"    schedule: {row['strength']}")
        for p in row["parameters"]:
            default = "(base recipe's)" if p["default"] is None and p["name"] in ("batch_size", "momentum", "weight_decay") else p["default"]
            print(f"    {p['name']:<18} {p['type']:<14} default {default}")
    print("None for epochs / lr_schedule of imp: from the base run (see its description); "
          "methods with a stage take epochs, lr_schedule, batch_size, momentum, weight_decay (written out in spec.json).")
    return 0

"""The command line: ``prunebench COMMAND ...``; the only place that parses arguments.

Each module in this package owns one group of subcommands and exposes ``register(subparsers)``,
which adds its parsers with ``set_defaults(func=handler)``. A handler takes the parsed namespace and
returns an exit status. User errors (:class:`PrunebenchError`, argparse usage errors) print one line
on stderr and exit with status 2, no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import PrunebenchError

#: Command-group modules, in the order their commands appear in ``--help``.
GROUPS = ["train", "pipeline", "prune", "study", "report", "info", "methods", "audit", "literature"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        self.exit(2, f"prunebench: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prunebench", description="Fair, reproducible benchmarking of neural-network pruning.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"prunebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in GROUPS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    for command in sub.choices.values():  # every command may use outside code
        command.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                             help="load a plug-in first: a module name or a .py file (repeatable); "
                                  "study workers load it too")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from ..plugins import load_plugins

        load_plugins(args.plugin)
        return int(args.func(args) or 0)
    except PrunebenchError as err:
        print(f"prunebench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prunebench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

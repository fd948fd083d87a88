"""The command line: ``prunebench COMMAND ...``; the only place that parses arguments.

Each module in this package owns one group of subcommands and exposes ``register(subparsers)``,
which adds its parsers with ``set_defaults(func=handler)``. A handler takes the parsed namespace and
returns an exit status. User errors (:class:`PrunebenchError`, argparse usage errors) print one line
on stderr and exit with status 2, no traceback.
"""
from __future__ import annotations

import argparse
import errno
import os
import importlib
import sys

from ..errors import PrunebenchError, disk_error

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


#: OS errors that are the machine's state, not a bug: said in one line (read-only, disk full, no permission).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


def os_error_line(err: OSError) -> str | None:
    """The one-line message of a storage error (None for any other OSError: a bug keeps its traceback)."""
    if err.errno not in STORAGE_ERRNOS:
        return None
    where = f"{err.filename}: " if err.filename else ""
    hint = " (disk full?)" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else " (read-only?)"
    return f"{where}{os.strerror(err.errno)}{hint}"


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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # the machine's state, not a bug: read-only, no permission, disk full
        message = os_error_line(err) if isinstance(err, OSError) else None
        message = message or disk_error(err)  # also a library's error that carries it ("os error 28")
        if message is None:
            raise
        print(f"prunebench: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

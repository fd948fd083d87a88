"""Progress of a study run: runs finished / total, failures, ETA. A rich bar on a terminal, one plain
line per finished run otherwise (logs, CI)."""
from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def describe(row: dict[str, Any]) -> str:
    if row["kind"] == "base":
        return f"base {row['run_id']} (seed {row['seed']})"
    return f"run {row['run_id']} {row['arm']} ratio {row['ratio']:g} seed {row['seed']}"


class StudyProgress:
    def __init__(self, total: int, finished: int, failed: int, *, enabled: bool | None = None,
                 stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        if quiet:
            enabled = False
        elif enabled is None:
            enabled = self.stream.isatty() and os.environ.get("PRUNEBENCH_PROGRESS", "1") != "0"
        self.rich = enabled
        self.total, self.finished, self.failed = total, finished, failed
        self._start = time.monotonic()
        self._session = 0
        self._bar = self._task = None
        if self.rich:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("runs"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                             TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                             console=Console(file=self.stream))
        self._bar.start()
        self._task = self._bar.add_task("runs", total=self.total, completed=self.finished, info=self._info())

    def eta(self) -> float | None:
        if not self._session:
            return None
        rate = self._session / (time.monotonic() - self._start)
        return (self.total - self.finished) / rate if rate > 0 else None

    def _info(self) -> str:
        fail = f"{self.failed} failed, " if self.failed else ""
        return f"{fail}ETA {_eta(self.eta())}"

    def finished_run(self, row: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.finished += 1
        self._session += 1
        status = outcome["status"]
        if status != "done":
            self.failed += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.finished, info=self._info())
            if status != "done":
                self._bar.console.print(f"{describe(row)}: {status}: {outcome.get('error')}", markup=False)
            return
        if self.quiet:
            return
        acc = (outcome.get("result") or {}).get("test_acc")
        detail = f" test accuracy {acc:.2%}" if isinstance(acc, float) and status == "done" else f": {outcome.get('error')}"
        print(f"[{self.finished}/{self.total}] {status} {describe(row)}{detail} "
              f"({outcome.get('wall_s', 0):.1f}s; {self.failed} failed; ETA {_eta(self.eta())})",
              file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

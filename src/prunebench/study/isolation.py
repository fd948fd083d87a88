"""Who killed the worker? When a pool worker dies (the OOM killer, a segfault), every run in flight on
that pool sees the same error, and which one took the worker down is unknown.

The rule: a run fails only when a worker running it died twice; every other run in flight is an
innocent bystander and completes. Every run that was in flight when a worker died becomes a *suspect*
and is re-run alone, on a fresh worker, before anything else is dispatched. A suspect that dies
again while alone is the culprit (failed); one that finishes is cleared and keeps its result.
"""
from __future__ import annotations

from typing import Any

#: The error of a run whose worker died a second time.
KILLED_WORKER = "worker process died twice (killed, or out of memory?); it was re-run alone to isolate it"


class Suspects:
    """Bookkeeping of worker deaths for one scheduler."""

    def __init__(self) -> None:
        self.deaths: dict[str, int] = {}  # run id -> times a worker died with it in flight
        self.queue: list[dict[str, Any]] = []  # suspects waiting to be re-run alone, in order

    def __bool__(self) -> bool:
        return bool(self.queue)

    def worker_died(self, row: dict[str, Any]) -> bool:
        """Record that a worker died with ``row`` in flight. True when the run is the culprit (its
        worker died twice), False when it was queued to be re-run alone."""
        run_id = row["run_id"]
        self.deaths[run_id] = self.deaths.get(run_id, 0) + 1
        if self.deaths[run_id] >= 2:
            return True
        self.queue.append(row)
        return False

    def next_alone(self) -> dict[str, Any]:
        """The next suspect to run alone."""
        return self.queue.pop(0)

"""Benchmark: a study's grid of small runs with 2 workers x 1 torch thread against 1 worker x 2
threads, measured side by side in one invocation (goal: >= 1.5x for the 2-worker layout).

    .venv/bin/python bench/study_parallel.py [--study studies/smoke.yaml] [--seeds 6] [--repeats 1]

Both layouts use the same process pool (spawned workers, the same start-up cost) on the same grid,
each in a fresh study directory, interleaved A B A B ... so that load from elsewhere hits both.
Small models barely use a second thread inside one run; two independent runs use both cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from prunebench.study import run_study, status_summary

LAYOUTS = {"2 workers x 1 thread": (2, 1), "1 worker x 2 threads": (1, 2)}


def with_seeds(study: Path, seeds: int, tmp: Path) -> Path:
    """A copy of the study file with ``seeds`` seeds (more runs amortise the pool's start-up)."""
    import yaml

    data = yaml.safe_load(study.read_text())
    data["seeds"] = list(range(seeds))
    path = tmp / study.name
    path.write_text(yaml.safe_dump(data))
    return path


def timed_run(study: Path, workers: int, threads: int) -> float:
    from prunebench.study.executors import PoolExecutor
    import prunebench.study.driver as driver

    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        # One worker still goes through the pool (not in-process), so both layouts pay the same start-up.
        real = driver.make_executor
        driver.make_executor = lambda kind, workers, threads, address=None: PoolExecutor(workers, threads)
        try:
            start = time.perf_counter()
            status = run_study(study, Path(tmp) / "out", workers=workers, threads=threads, quiet=True)
            elapsed = time.perf_counter() - start
        finally:
            driver.make_executor = real
        summary = status_summary(Path(tmp) / "out")
    if status != 0:
        sys.exit(f"the study did not finish cleanly: {summary['all']}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(Path(__file__).resolve().parents[1] / "studies" / "smoke.yaml"))
    parser.add_argument("--seeds", type=int, default=6, help="seeds of the grid (default 6: 6 bases + 24 runs for smoke.yaml)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="bench-study-file-") as tmp:
        study = with_seeds(Path(args.study), args.seeds, Path(tmp))
        for _ in range(args.repeats):
            for name, (workers, threads) in LAYOUTS.items():
                times[name].append(timed_run(study, workers, threads))
                print(f"{name}: {times[name][-1]:.1f} s", flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["1 worker x 2 threads"] / medians["2 workers x 1 thread"]
    print(f"study {args.study} with {args.seeds} seeds, {os.cpu_count()} CPUs, median of {args.repeats}:")
    for name, value in medians.items():
        print(f"  {name:<22} {value:7.1f} s")
    print(f"speedup of 2 workers x 1 thread over 1 worker x 2 threads: {ratio:.2f}x (goal >= 1.5x)")


if __name__ == "__main__":
    main()

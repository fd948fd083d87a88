"""Benchmark: how long pruning takes, and how MACs speedup compares with measured CPU latency.

    .venv/bin/python bench/prune_speed.py [--repeats 10] [--batch-size 16] [--threads 1]

1. Warm pruning time of ResNet-56 at 50% (uniform over the block-first convs of stages 1-3),
   including the checks (masked-equivalence forward, recount of params/MACs); median of repeats.
2. CPU latency of the dense and the pruned model, with and without channels_last, measured in one
   run, against the MACs speedup. Not part of the test suite; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from prunebench.metrics.latency import measure
from prunebench.models import build_model
from prunebench.pruning import prune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    dense = build_model("resnet56", seed=0)
    t0 = time.perf_counter()
    result = prune(dense, [0, 0.5, 0.5, 0.5, 0])
    cold = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = prune(dense, [0, 0.5, 0.5, 0.5, 0])
        times.append(time.perf_counter() - t0)
    nocheck = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        prune(dense, [0, 0.5, 0.5, 0.5, 0], check=False)
        nocheck.append(time.perf_counter() - t0)
    print(f"ResNet-56, 50% of stages 1-3 (threads={args.threads})")
    print(f"  prune time: cold {cold:.3f} s (includes tracing the dependency graph)")
    print(f"              warm median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f},"
          f" n={args.repeats}), with checks; goal <= 0.1 s")
    print(f"              warm median {statistics.median(nocheck):.3f} s without the equivalence check")
    rep = result.report
    macs_speedup = rep["speedup"]
    print(f"  params {rep['dense_params']:,} -> {rep['params']:,} (sparsity {rep['sparsity']:.3f});"
          f" MACs {rep['dense_macs']:,} -> {rep['macs']:,} (MACs speedup {macs_speedup:.2f}x)")
    print(f"  CPU latency, batch {args.batch_size}, {args.threads} thread(s), 3 warm-up + 15 timed runs, median:")
    for cl in (False, True):
        d = measure(dense, (3, 32, 32), batch_size=args.batch_size, threads=args.threads, warmup=3, repeats=15, channels_last=cl)
        p = measure(result.model, (3, 32, 32), batch_size=args.batch_size, threads=args.threads, warmup=3, repeats=15, channels_last=cl)
        ratio = d["median_ms"] / p["median_ms"]
        print(f"    channels_last={cl!s:<5}  dense {d['median_ms']:8.2f} ms (IQR {d['iqr_ms']:.2f})  pruned {p['median_ms']:8.2f} ms"
              f" (IQR {p['iqr_ms']:.2f})  measured speedup {ratio:.2f}x  vs MACs {macs_speedup:.2f}x"
              f"  ({ratio / macs_speedup:.0%} of it)  [{d['device']}]")


if __name__ == "__main__":
    main()

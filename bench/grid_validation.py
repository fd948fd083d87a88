"""Validation time and peak memory of a large study grid (issue 15, item 9).

Writes a study of ARMS x RATIOS x SEEDS pipeline runs (default 10 x 100 x 100 = 10^5 runs, 100 base
runs) on the synthetic data set and a small MLP into a temporary folder, then, in a fresh process,
runs what `prunebench run --dry-run` runs (parse, expand, dry-run every run; nothing written) and
prints the wall time of that and the process's peak resident memory (``ru_maxrss``).

    .venv/bin/python bench/grid_validation.py [--arms 10 --ratios 100 --seeds 100]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

CHILD = r"""
import json, resource, sys, time
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from prunebench.study.driver import prepare
import prunebench.models, prunebench.pipeline, prunebench.pruning  # torch and the zoo: not the grid's
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
expansion, target = prepare(sys.argv[1], sys.argv[2])
seconds = time.perf_counter() - t0
print(json.dumps({"runs": len(expansion.runs), "bases": len(expansion.bases), "seconds": seconds,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_before_mib": rss0 / 1024, "rss_imported_mib": rss1 / 1024}))
"""


def study(arms: int, ratios: int, seeds: int) -> dict:
    criteria = ["l1", "l2", "random", "magnitude"]
    return {
        "name": "grid-bench",
        "data": {"name": "synthetic", "input_shape": [16], "num_classes": 4, "num_samples": 128},
        "model": {"name": "mlp", "args": {"depth": 3, "width": 256}},  # every ratio another width
        "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
        "retrain": {"epochs": 2, "lr": 0.01},
        "arms": [{"name": f"a{i}", "criterion": criteria[i % 2 * 2] if i % 4 < 2 else "l2",
                  "retrain": {"lr": 0.01 * (1 + i)}} for i in range(arms)],
        "ratios": [round(0.9 * (i + 1) / (ratios + 1), 4) for i in range(ratios)],
        "seeds": list(range(seeds)),
        "reference": "a0",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", type=int, default=10)
    ap.add_argument("--ratios", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        path.write_text(yaml.safe_dump(study(args.arms, args.ratios, args.seeds)))
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(Path(tmp) / "out")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        assert not (Path(tmp) / "out").exists(), "validation wrote the study directory"
    print(f"grid of {res['runs']:,} runs ({args.arms} arms x {args.ratios} ratios x {args.seeds} seeds) "
          f"+ {res['bases']} base runs: validated in {res['seconds']:.2f} s, "
          f"peak RSS {res['peak_rss_mib']:.0f} MiB (after importing prunebench and torch, before validating: "
          f"{res['rss_imported_mib']:.0f} MiB; before any import: {res['rss_before_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()

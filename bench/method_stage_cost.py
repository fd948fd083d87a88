"""How long each method's pruning stage takes, relative to one retraining epoch of the same run.

One base model (cnn1d [16, 32, 32] on MNIST-1D, 4,000 samples, the pruning-cost study's recipe),
then one pipeline run per method, all in this process, one after the other, at ratio 0.5 with a
4-epoch stage and the stage arguments of studies/pruning-cost.yaml (GReg-2, AGP, IMP, SFP with the
same length). Per run it prints: the mean wall time of a stage epoch and of a retraining epoch (the
loop's ``time_s``: the epoch's steps, not its evaluation), their ratio, the whole stage in
retraining epochs, and a stage epoch over a dense base-training epoch (the hooks' own overhead; the
base trains in the same process, without hooks). Every ratio is measured within one run, side by side.

    .venv/bin/python bench/method_stage_cost.py [--threads 1] [--samples 4000]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from prunebench.config import validate
from prunebench.pipeline import PipelineSpec, prepare_base
from prunebench.pipeline.run import run_pipeline

STAGE = {
    "one-shot": {},
    "slimming": {"epochs": 4, "lr_schedule": "0:0.01", "s": 1e-3},
    "greg-1": {"epochs": 4, "delta": 0.02, "interval": 1},
    "greg-2": {"epochs": 4, "delta": 0.02, "interval": 1, "pick_delta": 0.002, "pick_ceiling": 0.01},
    "tpp": {"epochs": 4, "delta": 0.02, "interval": 1, "zero_out_interval": 10},
    "agp": {"epochs": 4},
    "imp": {"epochs": 2, "rounds": 2, "rewind": "lr"},
    "sfp": {"epochs": 4, "lr_schedule": "0:0.01"},
}


def spec_for(method: str, samples: int) -> PipelineSpec:
    return validate(PipelineSpec, {
        "data": {"name": "mnist1d", "num_samples": samples},
        "model": {"name": "cnn1d", "args": {"channels": [16, 32, 32]}},
        "base": {"train": {"epochs": 10, "lr_schedule": "0:0.1,6:0.01,9:0.001", "batch_size": 128}},
        "prune": {"ratio": 0.5, "criterion": "bn-scale" if method == "slimming" else "l1"},
        "regime": {"name": "retrain", "epochs": 3, "lr_schedule": "0:0.01"},
        "method": {"name": method, "args": STAGE[method]},
        "jsv_samples": 0,
    }, f"bench {method}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=4000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"{'method':<10} {'stage ep':>6} {'stage s/ep':>10} {'retrain s/ep':>12} {'ratio':>6} {'stage = retrain epochs':>23} {'vs dense base epoch':>20}")
        for method in STAGE:
            spec = spec_for(method, args.samples)
            base = prepare_base(spec, root / "bases")
            r = run_pipeline(spec, root / method, base_dir=base, progress=False)
            retrain = [h["time_s"] for h in r_history(root / method)]
            per_retrain = sum(retrain) / len(retrain)
            stage = [h["time_s"] for h in r.get("stage", {}).get("history", [])]
            if not stage:
                print(f"{method:<10} {0:>6} {'-':>10} {per_retrain:>12.4f} {'-':>6} {0.0:>23.2f}")
                continue
            per_stage = sum(stage) / len(stage)
            dense = [h["time_s"] for h in r_history(base)]
            per_dense = sum(dense) / len(dense)  # the base's own epochs: no hooks, dense model
            print(f"{method:<10} {len(stage):>6} {per_stage:>10.4f} {per_retrain:>12.4f} {per_stage / per_retrain:>6.2f} "
                  f"{sum(stage) / per_retrain:>23.2f} {per_stage / per_dense:>20.2f}")


def r_history(run_dir: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    main()

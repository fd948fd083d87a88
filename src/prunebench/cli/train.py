"""``prunebench train``: train a dense model from a YAML config and/or flags."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import TrainRunSpec, check_milestones, read_yaml, validate
from .common import print_json, set_nested

# flag -> dotted key in the TrainRunSpec
FLAG_KEYS = {
    "model": "model.name",
    "data": "data.name",
    "data_dir": "data.data_dir",
    "epochs": "train.epochs",
    "lr_schedule": "train.lr_schedule",
    "batch_size": "train.batch_size",
    "weight_decay": "train.weight_decay",
    "momentum": "train.momentum",
    "seed": "train.seed",
    "device": "train.device",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a dense model and write a model directory")
    p.add_argument("--config", metavar="FILE.yaml", help="a TrainRunSpec as YAML (flags override its keys)")
    p.add_argument("--model", help="model registry name (see `prunebench models`)")
    p.add_argument("--data", help="data set registry name (see `prunebench datasets`)")
    p.add_argument("--data-dir", help="where the data set's standard files are")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr-schedule", help='e.g. "0:0.1,30:0.01" or "cosine:0.1:0.0001"')
    p.add_argument("--batch-size", type=int)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--channels-last", action="store_true", default=None, help="channels_last memory format (conv nets)")
    p.add_argument("--out", help="output model directory (default: runs/train-MODEL-DATA-RUNID)")
    p.add_argument("--json", action="store_true", help="print result.json")
    p.set_defaults(func=run)


def build_spec(args: argparse.Namespace) -> TrainRunSpec:
    data = read_yaml(args.config) if args.config else {}
    source = args.config or "command line"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        from ..errors import ConfigError

        raise ConfigError(f"{source}: expected a mapping of keys")
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:
            set_nested(data, key, value)
    if args.channels_last:
        set_nested(data, "model.channels_last", True)
    spec = validate(TrainRunSpec, data, source)
    check_milestones(spec.train, "training", source)
    return spec


def run(args: argparse.Namespace) -> int:
    from ..train.run import train_dense

    spec = build_spec(args)
    out = Path(args.out or f"runs/train-{spec.model.name}-{spec.data.name}-{spec.spec_hash()}")
    result = train_dense(spec, out)
    if args.json:
        print_json(result)
    else:
        if result["diverged"]:
            status = "DIVERGED: " + str(result["message"]).removeprefix("diverged: ")
        elif result["test_acc"] is None:
            status = "no epochs run"
        else:
            status = f"test accuracy {result['test_acc']:.2%}"
        print(f"{out}  ({result['epochs']} epochs, {status}, run {result['run_id']})")
    return 1 if result["diverged"] else 0

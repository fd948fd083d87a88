"""``prunebench schedule``, ``prunebench models``, ``prunebench datasets``: look things up."""
from __future__ import annotations

import argparse

from .. import schedule as sched
from ..errors import ConfigError
from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="derive or show LR schedules")
    ssub = p.add_subparsers(dest="schedule_command", metavar="ACTION", parser_class=type(p))
    d = ssub.add_parser("derive", help="a retraining schedule by the paper's rules")
    d.add_argument("--lr", type=float, required=True, help="initial LR")
    d.add_argument("--final-lr", type=float, default=1e-5, help="final LR (default 1e-5)")
    d.add_argument("--epochs", type=int, required=True)
    d.add_argument("--max-stage", type=int, default=30, help="longest stage but the last (default 30)")
    d.add_argument("--extend", type=int, default=0, metavar="K", help="add K epochs to the first stage")
    d.set_defaults(func=_derive)
    s = ssub.add_parser("show", help="the LR of every epoch")
    s.add_argument("schedule")
    s.add_argument("--epochs", type=int, required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_show)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    m = sub.add_parser("models", help="list the model zoo")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_models)
    ds = sub.add_parser("datasets", help="list the data sets")
    ds.add_argument("--json", action="store_true")
    ds.set_defaults(func=_datasets)


def _derive(args: argparse.Namespace) -> int:
    text = sched.derive(args.lr, args.final_lr, args.epochs, max_stage=args.max_stage)
    if args.extend:
        text = sched.extend_first_stage(text, args.extend)
    print(text)
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0, got {args.epochs}")
    s = sched.parse(args.schedule)
    lrs = s.lrs(args.epochs)
    if args.json:
        print_json({"schedule": str(s), "epochs": args.epochs, "lrs": lrs, "first_stage_epochs": s.first_stage_epochs(args.epochs)})
        return 0
    print(f"schedule {s}  ({args.epochs} epochs, first stage {s.first_stage_epochs(args.epochs)} epochs)")
    start = 0
    for e in range(1, args.epochs + 1):
        if e == args.epochs or lrs[e] != lrs[start]:
            print(f"  epochs {start:>4}-{e - 1:<4} lr {lrs[start]:.6g}")
            start = e
    return 0


def _models(args: argparse.Namespace) -> int:
    from ..models import MODELS, model_info

    rows = {name: model_info(name) for name in MODELS.names()}
    if args.json:
        print_json(rows)
    else:
        for name, info in rows.items():
            shape = "x".join(str(s) for s in info["input_shape"])
            print(f"{name:<12} {info['family']:<16} input {shape:<10} classes {info['num_classes']:<5} {info.get('description', '')}")
    return 0


def _default_augmentation(name: str) -> str:
    """What ``augment: true`` trains with on this data set (``data.augment`` in a spec)."""
    from ..config import resolve_augmentation

    try:
        return resolve_augmentation(name, True, None)
    except ValueError:  # a data set whose kind comes from input_shape
        return "by input_shape"


def _datasets(args: argparse.Namespace) -> int:
    from ..data import DATASETS

    rows = {name: {**DATASETS.meta(name), "default_augmentation": _default_augmentation(name)} for name in DATASETS.names()}
    if args.json:
        print_json(rows)
    else:
        for name, meta in rows.items():
            print(f"{name:<14} {meta.get('description', '')}  [augment: {meta['default_augmentation']}]")
    return 0

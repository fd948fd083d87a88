"""``prunebench inspect``, ``prunebench prune``, ``prunebench replay``: look at, prune and re-apply.

Bad input (a ratio outside [0, 1), a pattern matching nothing, a stage list of the wrong length, an
unknown criterion, a plan for another dense model) raises before anything is written.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import PruneError
from .common import parse_shape, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="params, MACs and widths of a model (optionally pruned, or measured)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="zoo model name (see `prunebench models`)")
    src.add_argument("--model-dir", help="a model directory (dense or pruned)")
    p.add_argument("--classes", type=int, help="number of classes (default: the model's own)")
    p.add_argument("--input-shape", help="per-example input shape, e.g. 3,32,32")
    _prune_flags(p, required=False)
    p.add_argument("--latency", action="store_true", help="also measure latency (on --device)")
    p.add_argument("--device", help="latency device: cpu (default), cuda, cuda:N or auto")
    p.add_argument("--batch-size", type=int, help="latency batch size (default 1)")
    p.add_argument("--threads", type=int, help="latency thread count on the CPU (default 1)")
    p.add_argument("--channels-last", action="store_true", help="latency in channels_last memory format")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_inspect)

    q = sub.add_parser("prune", help="prune a dense model directory into a new model directory")
    q.add_argument("--model-dir", required=True, help="the dense model directory")
    _prune_flags(q, required=True)
    q.add_argument("--reinit", default="keep", help="keep | fresh | orthp (default keep)")
    q.add_argument("--out", required=True, help="output model directory")
    q.add_argument("--json", action="store_true", help="print result.json")
    q.set_defaults(func=_prune)

    r = sub.add_parser("replay", help="apply a stored plan to its dense model directory")
    r.add_argument("--plan", required=True, help="plan.json (masks.safetensors beside it is used for weight plans)")
    r.add_argument("--model-dir", required=True, help="the dense model directory the plan was computed on")
    r.add_argument("--out", required=True, help="output model directory")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_replay)


def _prune_flags(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--prune", required=required, metavar="SPEC",
                   help='preset name, ratio 0.5, stage list "[0,0.6,0.3,0.1,0]", "[0-5:0.8, 6:0]" or "*layer1*.conv1:0.6,..."')
    p.add_argument("--criterion", help="l1 (default), l2, random, taylor, bn-scale; magnitude/random for weights")
    p.add_argument("--granularity", choices=("filter", "weight"))
    p.add_argument("--scope", choices=("layer", "global"))
    p.add_argument("--skip", help="layer indices or patterns to leave alone, comma-separated")
    p.add_argument("--seed", type=int, default=0, help="seed of random criteria (default 0)")
    p.add_argument("--data", metavar="NAME",
                   help="data set for data-driven criteria (taylor); default: the one the model directory records")
    p.add_argument("--data-dir", help="where that data set's files are (CIFAR, MNIST, image folders)")


def criterion_data(spec: Any, args: argparse.Namespace, model_dir: str | None) -> Any:
    """(inputs, targets) for a criterion that needs data: the first 512 training examples of --data,
    else of the data set the model directory records (what `prunebench train` wrote); None when the
    criterion scores weights alone."""
    from ..config import DataSpec, validate
    from ..data import load_data
    from ..pruning import CRITERIA

    if not CRITERIA.get(spec.criterion).needs_training_data():
        return None
    recorded = None
    if args.data is None and model_dir is not None:
        from ..artifacts import read_model_dir

        recorded = read_model_dir(model_dir).spec
    if args.data is not None:
        fields: dict[str, Any] = {"name": args.data}
    elif isinstance(recorded, dict) and isinstance(recorded.get("data"), dict):
        fields = dict(recorded["data"])
    else:
        raise PruneError(f"criterion {spec.criterion!r} scores filters on training data: give --data NAME "
                         "(the model directory records no data set)")
    if args.data_dir is not None:
        fields["data_dir"] = args.data_dir
    data = load_data(validate(DataSpec, fields, "--data"))
    return data.train_x[:512], data.train_y[:512]


def _spec(args: argparse.Namespace):
    from ..pruning import parse_prune_arg

    return parse_prune_arg(args.prune, criterion=args.criterion, granularity=args.granularity,
                           scope=args.scope, skip=args.skip)


def _print_report(title: str, report: dict[str, Any]) -> None:
    print(title)
    print(f"  params {report['params']:,}   MACs {report['macs']:,}")
    if "dense_params" in report:
        print(f"  dense params {report['dense_params']:,}   dense MACs {report['dense_macs']:,}")
        print(f"  sparsity {report['sparsity']:.2%}   speedup (MACs) {report['speedup']:.3f}x")
    if "effective_params" in report:
        print(f"  effective (nonzero) params {report['effective_params']:,}   MACs {report['effective_macs']:,}")
    print("  widths (dense -> now):")
    for name, (dense, now) in report["widths"].items():
        print(f"    {name:<28} {dense:>6} -> {now:<6}" if dense != now else f"    {name:<28} {dense:>6}")
    if "latency" in report:
        lat = report["latency"]
        threads = f" {lat['threads']} thread(s)," if "threads" in lat else ""
        print(f"  latency median {lat['median_ms']:.3f} ms (IQR {lat['iqr_ms']:.3f}, {lat['repeats']} runs) on {lat['device']},"
              f" batch {lat['batch_size']},{threads} channels_last={lat['channels_last']}")


def _inspect(args: argparse.Namespace) -> int:
    from ..metrics import complexity as cx
    from ..pruning import prune

    if args.model_dir:
        given = [f"--{f.replace('_', '-')}" for f in ("prune", "classes", "input_shape", "criterion", "granularity", "scope", "skip",
                                                       "data", "data_dir")
                 if getattr(args, f) is not None]
        if given:
            raise PruneError(f"{', '.join(given)} apply to --model, not --model-dir (a model directory has its own "
                             "shape and plan; prune it with `prunebench prune`)")
        report, model, shape = _inspect_dir(Path(args.model_dir))
        title = str(args.model_dir)
    else:
        from ..models import build_model

        shape = parse_shape(args.input_shape) if args.input_shape else None
        model = build_model(args.model, shape, args.classes, seed=0)
        shape = tuple(model.zoo_args["input_shape"]) if shape is None else shape
        if args.prune:
            spec = _spec(args)
            result = prune(model, spec, seed=args.seed, input_shape=shape, data=criterion_data(spec, args, None))
            report, model = result.report, result.model
        else:
            comp = cx.count(model, shape)
            report = {"params": comp.params, "macs": comp.macs, "widths": {c.name: [c.out_width, c.out_width] for c in comp.layers}}
        title = args.model
    if args.latency:
        report["latency"] = _latency(model, shape, args)
    else:
        latency_only = [flag for flag, value in (("--device", args.device), ("--batch-size", args.batch_size),
                                                 ("--threads", args.threads), ("--channels-last", args.channels_last or None))
                        if value is not None]
        if latency_only:
            raise PruneError(f"{', '.join(latency_only)} set{'s' if len(latency_only) == 1 else ''} up the latency measurement; add --latency")
    if args.json:
        print_json(report)
    else:
        _print_report(title, report)
    return 0


def _latency(model: Any, shape: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``inspect --latency``: the measurement on --device (a missing GPU is a one-line error);
    --threads is for the CPU; a GPU timed at batch size 1 gets a warning on stderr."""
    import sys

    from ..devices import resolve_device
    from ..metrics.latency import measure

    device = resolve_device(args.device or "cpu")
    if device.type != "cpu" and args.threads is not None:
        raise PruneError(f"--threads is the CPU's thread count; it does not apply to --device {args.device}")
    if args.batch_size is not None and args.batch_size < 1:
        raise PruneError(f"--batch-size must be at least 1, got {args.batch_size}")
    lat = measure(model, shape, batch_size=1 if args.batch_size is None else args.batch_size, threads=1 if args.threads is None else args.threads, channels_last=args.channels_last,
                  device=device)
    if "warning" in lat:
        print(f"warning: latency: {lat['warning']}", file=sys.stderr)
    return lat


def _inspect_dir(path: Path):
    from ..loading import load_model
    from ..metrics import complexity as cx
    from ..models import build_model
    from ..pruning import make_report, masks_of

    model, md = load_model(path)
    shape = tuple(md.info["input_shape"])
    if md.plan is None:
        comp = cx.count(model, shape)
        return {"params": comp.params, "macs": comp.macs, "widths": {c.name: [c.out_width] * 2 for c in comp.layers}}, model, shape
    dense = build_model(md.info["name"], shape, int(md.info["num_classes"]), seed=0, **md.info.get("args", {}))
    return make_report(model, shape, cx.count(dense, shape), masks_of(model)), model, shape


def _prune(args: argparse.Namespace) -> int:
    from ..loading import prune_model_dir
    from ..pruning import as_spec

    spec = as_spec(_spec(args))
    batches = criterion_data(spec, args, args.model_dir)
    res = prune_model_dir(args.model_dir, spec, args.out, reinit=args.reinit, seed=args.seed, data=batches)
    print_json(res) if args.json else print(
        f"{args.out}  (sparsity {res['sparsity']:.2%}, speedup {res['speedup']:.3f}x, params {res['params']:,}, MACs {res['macs']:,})"
    )
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ..loading import replay_model_dir

    res = replay_model_dir(args.plan, args.model_dir, args.out)
    print_json(res) if args.json else print(f"{args.out}  (replayed {args.plan}, sparsity {res['sparsity']:.2%})")
    return 0

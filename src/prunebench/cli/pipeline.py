"""``prunebench pipeline`` (one pretrain -> prune -> retrain run) and ``prunebench jsv``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import DataSpec, load_yaml, validate
from ..errors import ConfigError
from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="run one pipeline: base model -> prune -> reinit -> retrain")
    p.add_argument("--config", required=True, metavar="RUN.yaml", help="a PipelineSpec as YAML")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--base-root", help="where a base model trained from a recipe is kept (default: beside --out)")
    p.add_argument("--json", action="store_true", help="print result.json")
    p.set_defaults(func=_pipeline)

    j = sub.add_parser("jsv", help="mean Jacobian singular values of a model on training inputs")
    j.add_argument("--model-dir", required=True)
    j.add_argument("--data", help="data set name (default: the one the model was trained on)")
    j.add_argument("--data-dir")
    j.add_argument("--n", type=int, default=100, help="number of training inputs (default 100)")
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=_jsv)


def _pipeline(args: argparse.Namespace) -> int:
    from ..pipeline import PipelineSpec, prepare_base, run_pipeline

    spec = load_yaml(PipelineSpec, args.config)
    from ..study.fit import check_fit

    check_fit(spec, spec.base.train, str(args.config))  # the model takes the data; no LR step past the end
    out = Path(args.out)
    from ..artifacts import check_apart
    from ..pipeline.run import base_dir_for

    root = Path(args.base_root) if args.base_root else out.parent
    check_apart(out, [("base model directory", base_dir_for(spec, root))])  # before a base is trained
    try:
        base = prepare_base(spec, Path(args.base_root) if args.base_root else out.parent, say=print)
    except ConfigError as err:
        raise ConfigError(f"{args.config}: {err}") from None
    result = run_pipeline(spec, out, base_dir=base)
    if args.json:
        print_json(result)
    elif result["diverged"]:
        print(f"{out}: DIVERGED: {str(result['message']).removeprefix('diverged: ')}")
    else:
        print(f"{out}: test accuracy {result['test_acc']:.2%}, TA(train) {_pct(result['ta_train'])}, "
              f"mean JSV {_fmt(result['jsv_mean_start'])} -> {_fmt(result['jsv_mean_end'])}, speedup {result['speedup']:.2f}x")
    return 1 if result["diverged"] else 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _jsv(args: argparse.Namespace) -> int:
    from ..loading import load_model
    from ..data import load_data
    from ..metrics.trainability import jsv_stats
    from ..pipeline.callbacks import jsv_inputs

    if args.n <= 0:
        raise ConfigError(f"--n must be > 0, got {args.n}")
    model, md = load_model(args.model_dir)
    data_fields = dict(md.spec.get("data") or {})
    if args.data:
        data_fields = {"name": args.data}
    if args.data_dir:
        data_fields["data_dir"] = args.data_dir
    dspec = validate(DataSpec, data_fields, "--data")
    data = load_data(dspec)
    stats = jsv_stats(model, jsv_inputs(data, args.n, dspec.split_seed))
    if args.json:
        print_json(stats)
    else:
        print(" ".join(f"{k}={v:.6g}" for k, v in stats.items()))
    return 0

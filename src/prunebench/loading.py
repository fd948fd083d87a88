"""Model directories as models: load one (the pruned architecture too), prune one into another, and
replay a stored plan on its dense directory. ``prunebench prune`` and ``prunebench replay`` are thin
wrappers around :func:`prune_model_dir` and :func:`replay_model_dir`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .artifacts import ModelDir, check_apart, check_output_dir, load_weights, read_model_dir, read_tensors, write_model_dir
from .errors import ArtifactError, PruneError

SUMMARY_KEYS = ("params", "macs", "dense_params", "dense_macs", "sparsity", "speedup", "effective_params", "effective_macs")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelDir]:
    """Rebuild the model of a model directory (the pruned architecture too, from its plan) and load
    its weights."""
    from .models import build_model
    from .pruning.replaying import restructure

    md = read_model_dir(path)
    if isinstance(md.result, dict) and md.result.get("diverged_in") == "stage" and not (md.path / "weights.safetensors").is_file():
        raise ArtifactError(f"{path}: holds no model: the run's pruning stage diverged ({md.result.get('message')})")
    info = md.info
    model = build_model(info["name"], tuple(info["input_shape"]), info["num_classes"], seed=0, **info.get("args", {}))
    if md.plan is not None:
        model = restructure(model, md.plan, md.path)
    load_weights(md.path / "weights.safetensors", model)
    return model.to(device), md


def load_dense(path: str | Path) -> tuple[torch.nn.Module, ModelDir]:
    """A dense model directory's model; a pruned one (it has plan.json) is refused."""
    model, md = load_model(path)
    if md.plan is not None:
        raise PruneError(f"{path}: is already a pruned model (it has plan.json); prune its dense model instead")
    return model, md


def check_pruned_out(out: str | Path, model_dir: str | Path, plan_path: str | Path | None = None) -> Path:
    """``--out`` of prune / replay: not the dense directory, nor inside it, nor around it (nor the
    model directory the plan comes from), and new, empty or an earlier model directory."""
    inputs: list[tuple[str, str | Path]] = [("dense model directory", model_dir)]
    if plan_path is not None and (Path(plan_path).parent / "model.json").exists():
        inputs.append(("model directory of the plan", Path(plan_path).parent))
    check_apart(out, inputs)
    return check_output_dir(out)


def _write(out: str | Path, model: torch.nn.Module, plan: dict[str, Any], report: dict[str, Any], md: ModelDir,
           spec_json: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    from .pruning import masks_of

    masks = masks_of(model)
    res = {"kind": "prune", **{k: report[k] for k in SUMMARY_KEYS if k in report}, "dense_sha256": plan["dense_sha256"], **extra}
    tensors = {"masks.safetensors": masks.to_tensors()} if masks is not None else None
    write_model_dir(out, model, info=dict(md.info), spec=spec_json, history=[], result=res, plan=plan, tensors=tensors)
    return res


def prune_model_dir(model_dir: str | Path, spec: Any, out: str | Path, *, reinit: str = "keep", seed: int = 0,
                    data: Any = None) -> dict[str, Any]:
    """Prune a dense model directory by ``spec`` (anything ``prunebench.prune`` takes), re-initialise
    the result with ``reinit`` (recorded in the plan, so that a replay reproduces it bit for bit) and
    write it to ``out``. ``data``: (inputs, targets) for a data-driven criterion. Returns the new
    directory's result.json content."""
    from .pruning import as_spec, prune, reinit_pruned
    from .registry import REINITS

    REINITS.get(reinit)  # an unknown name fails before any work
    check_pruned_out(out, model_dir)
    spec = as_spec(spec)
    dense, md = load_dense(model_dir)
    result = prune(dense, spec, seed=seed, input_shape=tuple(md.info["input_shape"]), data=data)
    reinit_pruned(result.model, reinit, seed)
    result.plan["reinit"] = {"name": reinit, "seed": seed}
    spec_json = {"kind": "prune", "dense_dir": str(model_dir), "dense_spec": md.spec,
                 "prune": spec.full_json(), "seed": seed, "reinit": reinit}
    return _write(out, result.model, result.plan, result.report, md, spec_json, {"reinit": reinit})


def read_plan(plan_path: str | Path) -> dict[str, Any]:
    from .pruning.plan import check_plan

    path = Path(plan_path)
    try:
        return check_plan(json.loads(path.read_text()), str(path))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such plan file") from None
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: corrupt JSON at line {err.lineno}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path}: cannot read the plan ({err.__class__.__name__})") from None


def replay_model_dir(plan_path: str | Path, model_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Apply a stored plan (and its recorded re-init) to the dense directory it was computed on and
    write the result to ``out``; weight plans use the masks file beside the plan when there is one."""
    from .metrics import complexity as cx
    from .pruning import make_report, masks_of, replay
    from .pruning.plan import masks_file

    plan_path = Path(plan_path)
    check_pruned_out(out, model_dir, plan_path)
    plan = read_plan(plan_path)
    dense, md = load_dense(model_dir)
    masks = None
    if plan["granularity"] == "weight":
        masks_path = masks_file(plan, plan_path.parent, str(plan_path))
        masks = read_tensors(masks_path) if masks_path.is_file() else None
    pruned = replay(plan, dense, masks=masks)
    shape = tuple(plan["input_shape"])
    report = make_report(pruned, shape, cx.count(dense, shape), masks_of(pruned))
    reinit = (plan.get("reinit") or {"name": "keep"})["name"]
    spec_json = {"kind": "replay", "dense_dir": str(model_dir), "plan": str(plan_path), "dense_spec": md.spec}
    return _write(out, pruned, plan, report, md, spec_json, {"replayed_from": str(plan_path), "reinit": reinit})

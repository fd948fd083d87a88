"""Model directories: the on-disk form of every model prunebench produces.

```
DIR/model.json          registry name, its arguments, input shape, classes (and channels_last)
DIR/weights.safetensors the weights (and BN buffers) of the final model
DIR/spec.json           the full spec that made it, every default written out
DIR/history.jsonl       one JSON line per epoch
DIR/result.json         run_id, epochs, test_acc, val_acc (fractions 0..1), diverged, ...
DIR/plan.json           only for pruned models: the pruning plan (kept indices / mask reference)
DIR/masks.safetensors   only for unstructured pruning: the masks the plan refers to
```
A directory is written into a temporary sibling and renamed into place, so a crash never leaves half a
model directory. Nothing here is pickled.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ArtifactError

MODEL_FILES = ("model.json", "weights.safetensors", "spec.json", "history.jsonl", "result.json")


@dataclass
class ModelDir:
    path: Path
    info: dict[str, Any]
    spec: dict[str, Any]
    result: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    plan: dict[str, Any] | None = None


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by None: JSON has no such numbers,
    so prunebench writes ``null`` for them (a diverged run's loss, a ratio of empty counts), never
    the ``NaN`` / ``Infinity`` tokens Python's json module would emit."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps of :func:`json_ready` ``(value)``: strict JSON, non-finite numbers as null."""
    return json.dumps(json_ready(value), allow_nan=False, **kwargs)


def state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as contiguous CPU tensors (what safetensors stores)."""
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_weights(path: Path, model: torch.nn.Module) -> None:
    save_file(state_tensors(model), str(path))


def load_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Load safetensors weights into ``model``; shapes and names must match exactly."""
    tensors = read_tensors(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ArtifactError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for name, value in tensors.items():
        if own[name].shape != value.shape:
            raise ArtifactError(f"{path}: {name} has shape {tuple(value.shape)}, the model wants {tuple(own[name].shape)}")
        if own[name].dtype != value.dtype:  # load_state_dict would cast silently
            raise ArtifactError(f"{path}: {name} is {str(value.dtype).removeprefix('torch.')}, the model's is "
                                f"{str(own[name].dtype).removeprefix('torch.')} (no silent casts)")
    model.load_state_dict(tensors, strict=True)


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"{p}: no such weights file")
    try:
        return load_file(str(p))
    except (SafetensorError, OSError, ValueError) as err:
        raise ArtifactError(f"{p}: not a readable safetensors file ({str(err).splitlines()[0]})") from None


def _read_json(path: Path, mapping: bool = True) -> Any:
    """A model directory's JSON file; with ``mapping`` it must hold an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing (is {path.parent} a prunebench model directory?)") from None
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: corrupt JSON at line {err.lineno}") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: not a text file (not UTF-8 JSON)") from None
    except OSError as err:
        raise ArtifactError(f"{path}: cannot read it ({err.strerror or err.__class__.__name__})") from None
    if mapping and not isinstance(data, dict):
        raise ArtifactError(f"{path}: holds a JSON {type(data).__name__}, not an object")
    return data


def check_model_info(info: dict[str, Any], path: Path) -> dict[str, Any]:
    """``model.json`` fields, typed: ``name`` a string, ``args`` a mapping, ``input_shape`` a list of
    positive integers, ``num_classes`` a positive integer (never a string or a bool)."""
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    for key in ("name", "input_shape", "num_classes"):
        if key not in info:
            raise ArtifactError(f"{path}: missing field {key!r}")
    if not isinstance(info["name"], str) or not info["name"]:
        raise ArtifactError(f"{path}: 'name' must be a model name, got {info['name']!r}")
    if not isinstance(info.get("args", {}), dict):
        raise ArtifactError(f"{path}: 'args' must be a mapping of the model's arguments, got {type(info['args']).__name__}")
    shape = info["input_shape"]
    if not (isinstance(shape, list) and shape and all(is_int(d) and d > 0 for d in shape)):
        raise ArtifactError(f"{path}: 'input_shape' must be a list of positive integers, got {shape!r}")
    if not (is_int(info["num_classes"]) and info["num_classes"] > 0):
        raise ArtifactError(f"{path}: 'num_classes' must be a positive integer, got {info['num_classes']!r}")
    return info


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path}: cannot read it as UTF-8 text ({err.__class__.__name__})") from None
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ArtifactError(f"{path}: corrupt JSON on line {i}") from None
    return rows


def read_model_dir(path: str | Path) -> ModelDir:
    p = Path(path)
    if not p.is_dir():
        raise ArtifactError(f"{p}: no such model directory")
    plan_path = p / "plan.json"
    return ModelDir(
        path=p,
        info=check_model_info(_read_json(p / "model.json"), p / "model.json"),
        spec=_read_json(p / "spec.json"),
        result=_read_json(p / "result.json"),
        history=read_history(p / "history.jsonl"),
        plan=_read_json(plan_path) if plan_path.is_file() else None,
    )


def check_output_dir(out: str | Path) -> Path:
    """An output model directory may be new, empty, or an earlier model directory (replaced); anything
    else is refused, so that a mistyped ``--out`` never deletes someone's files."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "model.json").is_file())):
        raise ArtifactError(f"{out}: exists and is not a prunebench model directory; choose another output path")
    return out


def check_apart(out: str | Path, inputs: list[tuple[str, str | Path]], flag: str = "--out") -> None:
    """Refuse an output path that is, contains or lies inside one of the ``inputs`` ((what, path)
    pairs: the model directories a command reads), symlinks resolved: writing it would replace or
    delete what is being read."""
    o = Path(out).resolve()
    for what, path in inputs:
        i = Path(path).resolve()
        if o == i:
            raise ArtifactError(f"{flag} {out} is the {what} itself; write the output elsewhere")
        if i in o.parents:
            raise ArtifactError(f"{flag} {out} lies inside the {what} {path}; write the output elsewhere")
        if o in i.parents:
            raise ArtifactError(f"{flag} {out} contains the {what} {path} (replacing it would delete it); "
                                "write the output elsewhere")


def check_dense_dir(path: str | Path, what: str = "base") -> None:
    """A model directory used as a dense model must not be a pruned one (it has plan.json)."""
    if (Path(path) / "plan.json").exists():
        raise ArtifactError(f"{what} {path} is a pruned model directory (it has plan.json); give its dense model directory")


def write_model_dir(
    out: str | Path,
    model: torch.nn.Module | None,
    *,
    info: dict[str, Any],
    spec: dict[str, Any],
    history: list[dict[str, Any]],
    result: dict[str, Any],
    plan: dict[str, Any] | None = None,
    tensors: dict[str, dict[str, torch.Tensor]] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a complete model directory atomically. ``tensors`` maps extra file names (e.g.
    ``masks.safetensors``) to tensor dicts. ``model`` None: a run that never got a model (its pruning
    stage diverged) writes no weights file."""
    out = check_output_dir(out)
    if out.exists() and not overwrite:
        raise ArtifactError(f"{out}: already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "model.json").write_text(dumps(info, indent=2, sort_keys=True) + "\n")
        (tmp / "spec.json").write_text(dumps(spec, indent=2, sort_keys=True) + "\n")
        (tmp / "result.json").write_text(dumps(result, indent=2, sort_keys=True) + "\n")
        (tmp / "history.jsonl").write_text("".join(dumps(r, sort_keys=True) + "\n" for r in history))
        if plan is not None:
            (tmp / "plan.json").write_text(dumps(plan, indent=2, sort_keys=True) + "\n")
        if model is not None:
            save_weights(tmp / "weights.safetensors", model)
        for name, tdict in (tensors or {}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in tdict.items()}, str(tmp / name))
        _follow_umask(tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def current_umask() -> int:
    """The process umask, read without changing it where Linux reports it (/proc/self/status)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _follow_umask(root: Path) -> None:
    """mkdtemp makes a 0700 directory and safetensors writes 0600 files: give the model directory
    the permissions any other file would get (0777 / 0666 less the umask), like the report does."""
    mask = current_umask()
    root.chmod(0o777 & ~mask)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _replace_dir(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def model_info(model: torch.nn.Module, input_shape: tuple[int, ...], num_classes: int, **extra: Any) -> dict[str, Any]:
    """``model.json`` content for a zoo model (which records its registry name and arguments)."""
    return {
        "name": getattr(model, "zoo_name"),
        "args": {k: v for k, v in getattr(model, "zoo_args", {}).items() if k not in ("input_shape", "num_classes")},
        "input_shape": list(input_shape),
        "num_classes": int(num_classes),
        **extra,
    }

"""Hostile model directories, plans and specs through the CLI (issue 15: items 2, 3, 5, 6, 7 and the
model.json / result.json / plan / number rows). Every row runs through `tests/hostile.py`'s contract:
exit 2, one line starting "prunebench: error:", no traceback, nothing half-written.

A dense model here is an untrained 3-layer MLP (16 -> 16 -> 16 -> 4) on synthetic 16-feature data;
its pruned form keeps half of each hidden layer (8 of 16 filters).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from hostile import Case, check_case
from prunebench import artifacts
from prunebench.models import build_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DATA = {"name": "synthetic", "input_shape": [16], "num_classes": 4, "num_samples": 64}
MODEL = {"name": "mlp", "args": {"depth": 3, "width": 16}}


def dense(tmp: Path, name: str = "dense") -> Path:
    model = build_model("mlp", (16,), 4, seed=0, depth=3, width=16)
    return artifacts.write_model_dir(tmp / name, model, info=artifacts.model_info(model, (16,), 4),
                                     spec={"kind": "train", "data": DATA}, history=[], result={"test_acc": 0.25})


def pruned(tmp: Path, granularity: str = "filter", name: str = "pruned") -> Path:
    from prunebench.loading import prune_model_dir

    base = dense(tmp) if not (tmp / "dense").exists() else tmp / "dense"
    prune_model_dir(base, {"ratio": 0.5, "granularity": granularity,
                           "criterion": "l1" if granularity == "filter" else "magnitude"}, tmp / name)
    return tmp / name


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    data = change(data) or data
    path.write_text(json.dumps(data))


def study_file(tmp: Path, **fields) -> Path:
    study = {"name": "hostile", "data": DATA, "model": MODEL,
             "base": {"epochs": 1, "lr_schedule": "0:0.1", "batch_size": 32},
             "retrain": {"epochs": 1, "lr_schedule": "0:0.1"},
             "arms": [{"name": "l1", "criterion": "l1"}], "reference": "l1", "ratios": [0.5], "seeds": [0], "jsv_samples": 2}
    study.update(fields)
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def pipeline_file(tmp: Path, **fields) -> Path:
    spec = {"data": DATA, "model": MODEL, "base": {"train": {"epochs": 1, "lr_schedule": "0:0.1", "batch_size": 32}},
            "prune": {"ratio": 0.5}, "regime": {"name": "retrain", "epochs": 1, "lr_schedule": "0:0.01"}, "jsv_samples": 2}
    spec.update(fields)
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --- item 2: a pruned model directory as a base ---------------------------------------------------------

def _study_pruned_base(tmp):
    base = pruned(tmp)
    return ["run", study_file(tmp, base=str(base)), "--out", tmp / "study", "--no-progress"]


def _pipeline_pruned_base(tmp):
    base = pruned(tmp)
    return ["pipeline", "--config", pipeline_file(tmp, base={"model_dir": str(base)}), "--out", tmp / "out"]


# --- item 3: outputs that are, contain or lie inside an input model directory ----------------------------

def _pipeline_out_is_base(tmp):
    base = dense(tmp)
    return ["pipeline", "--config", pipeline_file(tmp, base={"model_dir": str(base)}), "--out", base]


def _pipeline_out_contains_base(tmp):  # an earlier model directory that holds the base: replacing it deletes the base
    dense(tmp, "models")
    base = dense(tmp / "models")
    return ["pipeline", "--config", pipeline_file(tmp, base={"model_dir": str(base)}), "--out", tmp / "models"]


def _pipeline_out_inside_trained_base(tmp):
    cfg = pipeline_file(tmp)
    from prunebench.config import load_yaml
    from prunebench.pipeline import PipelineSpec
    from prunebench.pipeline.run import base_dir_for

    base = base_dir_for(load_yaml(PipelineSpec, cfg), tmp / "bases")
    return ["pipeline", "--config", cfg, "--base-root", tmp / "bases", "--out", base]


def _pipeline_out_symlink_to_base(tmp):
    base = dense(tmp)
    (tmp / "link").symlink_to(base, target_is_directory=True)
    return ["pipeline", "--config", pipeline_file(tmp, base={"model_dir": str(base)}), "--out", tmp / "link" / "sub"]


def _study_out_is_base(tmp):
    base = dense(tmp)
    return ["run", study_file(tmp, base=str(base)), "--out", base, "--no-progress"]


def _study_out_contains_base(tmp):
    base = dense(tmp / "work")
    return ["run", study_file(tmp, base=str(base)), "--out", tmp / "work", "--no-progress"]


def _prune_out_inside_dense(tmp):
    base = dense(tmp)
    return ["prune", "--model-dir", base, "--prune", "0.5", "--out", base / "pruned"]


def _prune_out_contains_dense(tmp):
    dense(tmp, "models")
    base = dense(tmp / "models")
    return ["prune", "--model-dir", base, "--prune", "0.5", "--out", tmp / "models"]


def _replay_out_is_plan_dir(tmp):
    p = pruned(tmp)
    return ["replay", "--plan", p / "plan.json", "--model-dir", tmp / "dense", "--out", p]


# --- item 6: empty splits ------------------------------------------------------------------------------

EMPTY_SPLITS = """
import torch
from prunebench.data.base import RawData, register_dataset

@register_dataset("hostile-empty-{split}", kind="vector", description="a data set whose {split} split is empty")
def load(spec):
    n_train, n_test = {sizes}
    return RawData("hostile-empty-{split}", "vector", 2, torch.zeros(n_train, 4), torch.arange(n_train) % 2,
                   torch.zeros(n_test, 4), torch.arange(n_test) % 2)
"""


def _empty_split(split: str, sizes: str):
    def setup(tmp):
        plugin = tmp / f"empty_{split}.py"
        plugin.write_text(EMPTY_SPLITS.format(split=split, sizes=sizes))
        return ["train", "--plugin", plugin, "--model", "mlp", "--data", f"hostile-empty-{split}", "--epochs", "1",
                "--lr-schedule", "0:0.1", "--out", tmp / "out"]
    return setup


# --- item 5: ratios the report cannot tell apart ---------------------------------------------------------

def _study_ratios(ratios, arm_ratios=None):
    def setup(tmp):
        arm = {"name": "l1", "criterion": "l1", **({"ratios": arm_ratios} if arm_ratios else {})}
        return ["run", study_file(tmp, ratios=ratios, arms=[arm]), "--out", tmp / "study", "--dry-run"]
    return setup


# --- model.json / result.json ---------------------------------------------------------------------------

def _model_json(change):
    def setup(tmp):
        d = dense(tmp)
        path = d / "model.json"
        if callable(change):
            edit_json(path, change)
        else:
            path.write_text(change)
        return ["inspect", "--model-dir", d]
    return setup


def _binary_result(tmp):
    d = dense(tmp)
    (d / "result.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    return ["inspect", "--model-dir", d]


def _file_in(which, content: bytes, granularity=None):
    def setup(tmp):
        d = pruned(tmp, granularity) if granularity else dense(tmp)
        (d / which).write_bytes(content)
        return ["inspect", "--model-dir", d]
    return setup


def _duplicate_layer(plan):
    plan["layers"].append(dict(plan["layers"][0]))


def _set(key, value):
    def change(info):
        info[key] = value
    return change


# --- item 7: hand-edited plans, masks and weights ----------------------------------------------------------

def _replay_edited(change, granularity="filter"):
    def setup(tmp):
        p = pruned(tmp, granularity)
        edit_json(p / "plan.json", change)
        return ["replay", "--plan", p / "plan.json", "--model-dir", tmp / "dense", "--out", tmp / "again"]
    return setup


def _load_edited(change, granularity="filter"):
    def setup(tmp):
        p = pruned(tmp, granularity)
        edit_json(p / "plan.json", change)
        return ["inspect", "--model-dir", p]
    return setup


def _layer(i, key, value):
    def change(plan):
        plan["layers"][i][key] = value
    return change


def _bn_layer(tmp):  # a ResNet-20's first BN layer named where a conv layer was
    from prunebench.loading import prune_model_dir

    model = build_model("resnet20", seed=0)
    d = artifacts.write_model_dir(tmp / "dense", model, info=artifacts.model_info(model, (3, 32, 32), 10),
                                  spec={"kind": "train"}, history=[], result={})
    prune_model_dir(d, "[0,0.5,0,0,0]", tmp / "pruned")
    edit_json(tmp / "pruned" / "plan.json", _layer(0, "name", "layer1.0.bn1"))
    return ["replay", "--plan", tmp / "pruned" / "plan.json", "--model-dir", d, "--out", tmp / "again"]


def _pruned_width_edited(plan):
    for row in plan["widths"]:
        if row[0] == "layers.0":
            row[2] = 9


def _masks(change):
    def setup(tmp):
        from safetensors.torch import load_file, save_file

        p = pruned(tmp, "weight")
        tensors = load_file(str(p / "masks.safetensors"))
        save_file(change(tensors), str(p / "masks.safetensors"))
        return ["inspect", "--model-dir", p]
    return setup


def _float_masks(tensors):
    return {k: v.float() for k, v in tensors.items()}


def _short_mask(tensors):
    return {k: (v[:4] if k == "layers.0.weight" else v) for k, v in tensors.items()}


def _float64_weights(tmp):
    from safetensors.torch import load_file, save_file

    d = dense(tmp)
    tensors = load_file(str(d / "weights.safetensors"))
    save_file({k: v.double() for k, v in tensors.items()}, str(d / "weights.safetensors"))
    return ["inspect", "--model-dir", d]


def _masks_outside(tmp):
    p = pruned(tmp, "weight")
    (tmp / "elsewhere.safetensors").write_bytes((p / "masks.safetensors").read_bytes())
    edit_json(p / "plan.json", lambda plan: plan["masks"].update(file="../elsewhere.safetensors"))
    return ["inspect", "--model-dir", p]


def _masks_symlink_outside(tmp):
    p = pruned(tmp, "weight")
    (tmp / "elsewhere.safetensors").write_bytes((p / "masks.safetensors").read_bytes())
    (p / "masks.safetensors").unlink()
    (p / "masks.safetensors").symlink_to(tmp / "elsewhere.safetensors")
    return ["replay", "--plan", p / "plan.json", "--model-dir", tmp / "dense", "--out", tmp / "again"]


def _overlapping_entries(tmp):
    return ["prune", "--model-dir", dense(tmp), "--prune", "0-1:0.5, 0-1:0.25", "--out", tmp / "out"]


# --- numbers: booleans and non-finite values ----------------------------------------------------------------

def _study_text(text):
    def setup(tmp):
        path = study_file(tmp)
        path.write_text(path.read_text() + text)
        return ["run", path, "--out", tmp / "study", "--dry-run"]
    return setup


def _study_fields(**fields):
    def setup(tmp):
        return ["run", study_file(tmp, **fields), "--out", tmp / "study", "--dry-run"]
    return setup


CASES = [
    Case("study base is a pruned model", _study_pruned_base, "pruned model directory"),
    Case("pipeline base.model_dir is a pruned model", _pipeline_pruned_base, "pruned model directory"),
    Case("pipeline --out is its base", _pipeline_out_is_base, "is the base model directory"),
    Case("pipeline --out contains its base", _pipeline_out_contains_base, "contains the base model directory"),
    Case("pipeline --out is the base it would train", _pipeline_out_inside_trained_base, "is the base model directory"),
    Case("pipeline --out inside its base through a symlink", _pipeline_out_symlink_to_base, "lies inside the base"),
    Case("study --out is its external base", _study_out_is_base, "is the base model directory"),
    Case("study --out contains its external base", _study_out_contains_base, "contains the base model directory"),
    Case("prune --out inside the dense model", _prune_out_inside_dense, "lies inside the dense model directory"),
    Case("prune --out contains the dense model", _prune_out_contains_dense, "contains the dense model directory"),
    Case("replay --out is the plan's model directory", _replay_out_is_plan_dir, "is the model directory of the plan"),
    Case("ratios equal at the report's precision", _study_ratios([0.3, 0.3000001]), "equal at the precision the report prints"),
    Case("arm ratios equal at the report's precision", _study_ratios([0.5], [0.2, 0.2000004]), "equal at the precision"),
    Case("two arms' ratios that print as one column",
         lambda tmp: ["run", study_file(tmp, ratios=[0.3], arms=[{"name": "l1", "criterion": "l1"},
                                                                 {"name": "r", "criterion": "random", "ratios": [0.3000001]}]),
                      "--out", tmp / "study", "--dry-run"], "are equal at the precision the report prints"),
    Case("tiny ratios that round to one column", _study_ratios([1e-7, 2e-7]), "equal at the precision"),
    # 16-wide hidden layers: 0.1 and 0.12 of 16 filters both round to 2 removed per layer
    Case("ratios that leave the same pruned model", _study_ratios([0.1, 0.12, 0.5]), "identical pruned architecture"),
    Case("model.json is a list", _model_json("[]"), "holds a JSON list, not an object"),
    Case("model.json with list args", _model_json(_set("args", [3, 16])), "'args' must be a mapping"),
    Case("model.json with a string num_classes", _model_json(_set("num_classes", "4")), "'num_classes' must be a positive integer"),
    Case("model.json with a null input_shape", _model_json(_set("input_shape", None)), "'input_shape' must be a list"),
    Case("model.json with a boolean in input_shape", _model_json(_set("input_shape", [True])), "'input_shape' must be a list"),
    Case("binary result.json", _binary_result, "not a text file"),
    Case("binary spec.json", _file_in("spec.json", b"\xff\x00\xfe"), "not a text file"),
    Case("binary history.jsonl", _file_in("history.jsonl", b"\xff\x00\xfe\n"), "cannot read it as UTF-8 text"),
    Case("plan.json of a model directory is a list", _file_in("plan.json", b"[]", "filter"), "not an object"),
    Case("plan with a null input_shape", _load_edited(lambda p: p.update(input_shape=None)), "'input_shape' must be a list"),
    Case("plan lists a layer twice", _replay_edited(_duplicate_layer), "has two entries"),
    Case("plan kept index past the layer's width", _load_edited(_layer(0, "kept", [0, 1, 99])), "do not fit its width"),
    Case("plan layer with an empty name", _replay_edited(_layer(0, "name", "")), "has no name"),
    Case("plan layer names a BN layer", _bn_layer, "is a BatchNorm2d, not a Conv/Linear layer"),
    Case("plan granularity changed without masks", _replay_edited(lambda p: p.update(granularity="weight")), "differs from its spec"),
    Case("loaded plan granularity changed", _load_edited(lambda p: p.update(granularity="weight")), "differs from its spec"),
    Case("plan records the wrong layer width (replay)", _replay_edited(_layer(0, "width", 20)), "records width 20, the layer has 16"),
    Case("plan records the wrong layer width (load)", _load_edited(_layer(0, "width", 20)), "records width 20, the layer has 16"),
    Case("plan's widths table edited", _load_edited(_pruned_width_edited), "records layers.0 pruned to 9"),
    Case("weight plan records the wrong weight count", _load_edited(_layer(0, "size", 100), "weight"), "records 100 weights"),
    Case("masks stored as floats", _masks(_float_masks), "masks are bool"),
    Case("mask shape differs from its weight", _masks(_short_mask), "mask for layers.0 has shape (4, 16)"),
    Case("weights stored as float64", _float64_weights, "no silent casts"),
    Case("plan's masks file outside its directory", _masks_outside, "lies outside its model directory"),
    Case("masks file a symlink out of its directory", _masks_symlink_outside, "lies outside its model directory"),
    Case("a ratio entry every later entry overrides", _overlapping_entries, "takes no effect"),
    # numbers
    Case("ratios: [false]", _study_fields(ratios=[False]), "a boolean is not a number"),
    Case("base weight_decay: .inf", _study_fields(base={"epochs": 1, "lr_schedule": "0:0.1", "weight_decay": float("inf")}),
         "finite number"),
    Case("retrain momentum: true", _study_fields(retrain={"epochs": 1, "lr_schedule": "0:0.1", "momentum": True}),
         "a boolean is not a number"),
    Case("seeds: [true]", _study_fields(seeds=[True]), "a boolean is not a number"),
    Case("train --weight-decay nan", lambda tmp: ["train", "--model", "mlp", "--data", "synthetic", "--weight-decay", "nan",
                                                 "--out", tmp / "out"], "finite number"),
    Case("lr-rewind on a 0-epoch base", _study_fields(base={"epochs": 0, "lr_schedule": "0:0.1"},
                                                      arms=[{"name": "l1", "criterion": "l1", "regime": "lr-rewind",
                                                             "retrain": {"epochs": 1}}]),
         "the base run has 0 epochs"),
    Case("empty test split", _empty_split("test", "8, 0"), "the test split is empty", may_create=("__pycache__",)),
    Case("empty training split", _empty_split("train", "0, 8"), "the training split is empty", may_create=("__pycache__",)),
]


@pytest.fixture(autouse=True)
def _groups(monkeypatch):
    import prunebench.cli as cli

    missing = [g for g in ("prune", "study", "pipeline") if g not in cli.GROUPS]
    if missing:
        monkeypatch.setattr(cli, "GROUPS", cli.GROUPS + missing)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile(case, tmp_path, capsys):
    check_case(case, tmp_path, capsys)


def test_non_finite_numbers_are_written_as_null(tmp_path):
    """JSON has no NaN or Infinity: a model directory, a study store and --json output write null."""
    def strict(text):
        return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON number {token}"))

    model = build_model("mlp", (16,), 4, seed=0, depth=3, width=16)
    out = artifacts.write_model_dir(tmp_path / "m", model, info=artifacts.model_info(model, (16,), 4), spec={},
                                    history=[{"epoch": 1, "train_loss": float("nan")}],
                                    result={"test_acc": float("nan"), "jsv": {"cond": float("inf"), "min": -float("inf")},
                                            "accs": [0.5, float("nan")]})
    result = strict((out / "result.json").read_text())
    assert result == {"test_acc": None, "jsv": {"cond": None, "min": None}, "accs": [0.5, None]}
    assert strict((out / "history.jsonl").read_text()) == {"epoch": 1, "train_loss": None}

    from prunebench.study.store import Store

    store = Store.create(tmp_path / "study")
    try:
        store.set_meta("x", {"v": float("nan")})
        raw = store.conn.execute("SELECT value FROM meta WHERE key = 'x'").fetchone()[0]
    finally:
        store.close()
    assert strict(raw) == {"v": None}


def test_json_output_of_the_cli_is_strict(capsys):
    from prunebench.cli.common import print_json

    print_json({"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads(capsys.readouterr().out, parse_constant=lambda t: pytest.fail(t)) == {"a": None, "b": [1.0, None]}


def test_an_empty_split_is_refused_when_data_are_loaded():
    from prunebench.data.bundle import split_indices
    from prunebench.errors import DataError

    with pytest.raises(DataError, match="no validation example out of 1"):
        split_indices(1, 0.1, 0, "tiny")
    train, val = split_indices(1, 0.0, 0, "tiny")  # val_fraction 0 asks for no validation split
    assert train.tolist() == [0] and val.tolist() == []


def test_the_study_and_the_report_group_ratios_at_one_precision():
    from prunebench.report.aggregate import RATIO_DIGITS as REPORT
    from prunebench.study.spec import RATIO_DIGITS as STUDY

    assert REPORT == STUDY


@pytest.mark.parametrize("umask, dirs, files", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600), (0o002, 0o775, 0o664)])
def test_model_directories_follow_the_umask(tmp_path, umask, dirs, files):
    """mkdtemp (0700) and safetensors (0600) made model directories private to their writer."""
    import os

    old = os.umask(umask)
    try:
        p = pruned(tmp_path, "weight")
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == dirs
    modes = {f.name: f.stat().st_mode & 0o777 for f in p.iterdir()}
    assert set(modes) >= {"weights.safetensors", "masks.safetensors", "model.json", "plan.json"}
    assert set(modes.values()) == {files}, modes


def test_overlapping_ratio_entries_say_which_entry_won():
    from prunebench.pruning import prune

    model = build_model("mlp", (16,), 4, seed=0, depth=3, width=16)
    layers = {e["name"]: e for e in prune(model, "0-1:0.5, 1:0.25").plan["layers"]}
    assert (layers["layers.0"]["removed"], layers["layers.0"]["entry"]) == (8, "0-1:0.5")  # ceil(0.5 x 16)
    assert (layers["layers.1"]["removed"], layers["layers.1"]["entry"]) == (4, "1:0.25")  # the later entry won
    plain = prune(model, "0:0.5, 1:0.25").plan["layers"]  # no overlap: nothing to say
    assert all("entry" not in e for e in plain)

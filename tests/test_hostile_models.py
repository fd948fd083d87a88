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
    Case("tiny ratios that round to one column", _study_ratios([1e-7, 2e-7]), "equal at the precision"),
    # 16-wide hidden layers: 0.1 and 0.12 of 16 filters both round to 2 removed per layer
    Case("ratios that leave the same pruned model", _study_ratios([0.1, 0.12, 0.5]), "identical pruned architecture"),
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

"""Small things that cost a newcomer time: the pipeline example, data for data-driven criteria from the
model directory, the prune docstring, name matching in rows CSVs, percent in printed lines."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import prunebench.cli as cli
from prunebench.artifacts import read_model_dir
from prunebench.loading import load_model
from prunebench.config import DataSpec, load_yaml
from prunebench.data import load_data
from prunebench.pipeline import PipelineSpec
from prunebench.pruning import PruneSpec, prune
from prunebench.fairness import audit_rows

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pipeline.yaml"


@pytest.fixture(autouse=True)
def _groups(monkeypatch):
    missing = [g for g in ("prune", "pipeline", "train") if g not in cli.GROUPS]
    if missing:
        monkeypatch.setattr(cli, "GROUPS", cli.GROUPS + missing)


def test_pipeline_example_validates():
    spec = load_yaml(PipelineSpec, EXAMPLE)
    assert spec.data.name == "mnist1d" and spec.prune.ratio == 0.5 and spec.regime.epochs == 2


@pytest.mark.slow
def test_pipeline_example_runs_as_documented_and_prints_percent(tmp_path, tmp_cache, capsys):
    assert cli.main(["pipeline", "--config", str(EXAMPLE), "--out", str(tmp_path / "pruned")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    result = read_model_dir(tmp_path / "pruned").result
    assert f"test accuracy {result['test_acc']:.2%}, TA(train) {result['ta_train']:.2%}," in line


@pytest.fixture
def trained(tmp_path, tmp_cache):
    out = tmp_path / "dense"
    args = ["train", "--data", "synthetic", "--model", "mlp", "--epochs", "1", "--lr-schedule", "0.05", "--out", str(out)]
    assert cli.main(args) == 0
    return out


def test_prune_taylor_takes_its_data_from_the_model_directory(trained, tmp_path, capsys):
    capsys.readouterr()
    assert cli.main(["prune", "--model-dir", str(trained), "--prune", "0.5", "--criterion", "taylor",
                     "--out", str(tmp_path / "pruned")]) == 0
    line = capsys.readouterr().out
    plan = read_model_dir(tmp_path / "pruned").plan
    # By hand: the recorded data set's first 512 training examples score the dense model.
    recorded = read_model_dir(trained).spec["data"]
    data = load_data(DataSpec.model_validate(recorded))
    dense, _ = load_model(trained)
    expected = prune(dense, PruneSpec(ratio=0.5, criterion="taylor"), data=(data.train_x[:512], data.train_y[:512]))
    assert [e["kept"] for e in plan["layers"]] == [e["kept"] for e in expected.plan["layers"]]
    l1 = prune(dense, PruneSpec(ratio=0.5, criterion="l1"))
    assert [e["kept"] for e in plan["layers"]] != [e["kept"] for e in l1.plan["layers"]]  # the data mattered
    assert f"sparsity {expected.report['sparsity']:.2%}" in line  # percent, like every printed accuracy


def test_prune_taylor_without_a_recorded_data_set_names_the_flag(tmp_path, capsys):
    from prunebench import artifacts
    from prunebench.models import build_model

    model = build_model("mlp", seed=0)
    dense = artifacts.write_model_dir(tmp_path / "dense", model, info=artifacts.model_info(model, (1, 40), 10),
                                      spec={"kind": "train"}, history=[], result={})
    assert cli.main(["prune", "--model-dir", str(dense), "--prune", "0.5", "--criterion", "taylor",
                     "--out", str(tmp_path / "p")]) == 2
    assert "give --data NAME (the model directory records no data set)" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert cli.main(["inspect", "--model", "mlp", "--prune", "0.5", "--criterion", "taylor"]) == 2
    assert "give --data NAME" in capsys.readouterr().err


def test_prune_docstring_names_its_result():
    assert "Returns a :class:`PruneResult`" in prune.__doc__


def test_rows_csv_names_match_up_to_case_and_punctuation():
    base = {"macs": 100, "base": "b", "retrain_epochs": 10}
    rows = [{"name": "ours", "dataset": "cifar10", "model": "resnet56", **base},
            {"name": "paper", "dataset": "CIFAR-10", "model": "ResNet-56", **base},
            {"name": "other", "dataset": "CIFAR-100", "model": "ResNet_56", **base}]
    pairs = {p["b"]: p for p in audit_rows(rows)["pairs"]}
    assert "S2" in pairs["paper"]["holds"] and pairs["paper"]["differs"] == []
    assert pairs["other"]["differs"] == ["dataset"]
    args = [{"name": "a", "model": 'cnn1d{"channels": [8]}'}, {"name": "b", "model": 'CNN-1D{"channels": [88]}'}]
    assert audit_rows(args)["pairs"][0]["differs"] == ["model"]  # arguments are compared exactly

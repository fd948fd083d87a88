"""The numbers a reader checks first: base (dense) accuracy, accuracy right after pruning, chance level,
and the warnings the report and the console give about them."""
from __future__ import annotations

import csv
import io

import pytest
import torch
import yaml

import prunebench.cli as cli
from prunebench.artifacts import read_model_dir
from prunebench.loading import load_model
from prunebench.config import DataSpec
from prunebench.data import load_data
from prunebench.pruning import replay
from prunebench.report.checks import reader_warnings
from prunebench.study import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# A base trained one epoch at LR 1e-5 learns nothing: it sits at chance (10 balanced classes, 10%).
CHANCE = {
    "name": "chance",
    "data": {"name": "synthetic", "input_shape": [16], "num_classes": 10, "num_samples": 400},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16}},
    "base": {"epochs": 1, "lr_schedule": "0:0.00001", "batch_size": 32},
    "retrain": {"epochs": 2, "lr_schedule": "0:0.1"},
    "arms": [{"name": "l1", "criterion": "l1"}, {"name": "rand", "criterion": "random"}],
    "ratios": [0.5],
    "seeds": [0, 1],
    "reference": "l1",
    "jsv_samples": 4,
}


@pytest.fixture
def cli_main(monkeypatch):
    if "study" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "study"])
    return cli.main


def row(arm, seed, status="done", **kw):
    return {"run_id": f"{arm}{seed}", "arm": arm, "ratio": 0.5, "seed": seed, "status": status, "reinit": "keep", **kw}


def test_reader_warnings_on_hand_made_rows():
    rows = [
        row("a", 0, base_acc=0.12, chance_acc=0.10, pruned_acc=0.11, test_acc=0.5),   # 2 points above chance
        row("a", 1, base_acc=0.16, chance_acc=0.10, pruned_acc=0.15, test_acc=0.5),   # 6 points: fine
        row("b", 0, base_acc=0.12, chance_acc=0.10, pruned_acc=0.90, test_acc=0.80),  # ends below pruned
        row("b", 1, base_acc=0.16, chance_acc=0.10, pruned_acc=0.70, test_acc=0.80),
        row("c", 0, status="diverged"), row("c", 1, status="diverged"),
        row("d", 0, base_acc=0.9, chance_acc=0.1, pruned_acc=0.9, test_acc=0.2, reinit="fresh"),  # not kept
    ]
    lines = reader_warnings(rows)
    assert lines == [
        "base model of seed 0 is at chance level: test accuracy 12.0% vs chance 10.0% (within 5 points); the arms "
        "pruning it (a, b) prune a network that has not learned the task: check the base recipe and the data "
        "set's augmentation",
        "arm b at ratio 0.5: retraining ended below the accuracy right after pruning in 1 of 2 runs "
        "(mean 90.0% after pruning, 80.0% final)",
        "arm c diverged in 2 run(s): ratio 0.5 seed 0, ratio 0.5 seed 1",
    ]
    assert reader_warnings([row("a", 0, base_acc=0.151, chance_acc=0.1, pruned_acc=0.1, test_acc=0.2)]) == []


@pytest.fixture(scope="module")
def chance_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("chance")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(CHANCE))
    return path, root / "out"


def test_chance_level_study_warns_and_shows_base_and_after_prune_accuracy(chance_study, cli_main, capsys):
    path, out = chance_study
    assert cli_main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr()
    err = printed.err
    assert "warning: base model of seed 0 is at chance level: test accuracy 10.0% vs chance 10.0%" in err
    assert " done run " in printed.out and " test accuracy " in printed.out and "%" in printed.out  # percent
    assert "warning: base model of seed 1 is at chance level" in err
    assert cli_main(["results", str(out), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    store = Store.open(out)
    try:
        jobs = {r["run_id"]: r for r in store.rows()}
    finally:
        store.close()
    data = load_data(DataSpec.model_validate(CHANCE["data"]))
    assert len(data.test_y) == 100 and torch.bincount(data.test_y).tolist() == [10] * 10
    for r in rows:
        base_id = jobs[r["run_id"]]["base_id"]
        base_dir = out / "bases" / base_id
        # base accuracy = the base model's own recorded final test accuracy
        assert float(r["base_acc"]) == read_model_dir(base_dir).result["test_acc"]
        assert float(r["chance_acc"]) == 0.1  # 10 of the 100 test examples in each class
        # accuracy right after pruning = the stored plan replayed on the base model, evaluated by hand
        dense, _ = load_model(base_dir)
        pruned = replay(read_model_dir(out / "runs" / r["run_id"]).plan, dense).eval()
        with torch.no_grad():
            correct = int((pruned(data.test_x).argmax(1) == data.test_y).sum())
        assert float(r["pruned_acc"]) == correct / 100
    capsys.readouterr()
    assert cli_main(["report", str(out)]) == 0
    assert "warning: base model of seed 1 is at chance level" in capsys.readouterr().err
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    warnings = md.split("## Warnings")[1].split("## Results")[0]
    assert "base model of seed 0 is at chance level" in warnings
    l1 = sorted(float(r["pruned_acc"]) * 100 for r in rows if r["arm"] == "l1")
    mean = sum(l1) / 2
    std = abs(l1[1] - l1[0]) / 2 ** 0.5
    assert "| *dense base model* | 10.00 ± 0.00 (n=2) |" in md
    assert f"| *l1: right after pruning* | {mean:.2f} ± {std:.2f} (n=2) |" in md

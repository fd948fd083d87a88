"""Per-arm retraining-LR tuning on validation (issue 13, item 4)."""
from __future__ import annotations

import copy

import pytest

from prunebench.errors import ConfigError
from prunebench.study import audit_study, expand, load_study, run_study, study_rows
from prunebench.study.store import Store
from prunebench.study.tuning import mark_tuning, select_rows
from test_study_spec import TINY, write

TUNED = copy.deepcopy(TINY)
TUNED["arms"] = [{"name": "l1", "criterion": "l1"},
                 {"name": "l1-tuned", "criterion": "l1", "tune": {"lr": [0.05, 0.02]}}]
TUNED["ratios"] = [0.5]


def _row(run_id, lr, seed, val, test, per="seed", status="done", epochs=2, macs=100):
    return {"run_id": run_id, "arm": "t", "ratio": 0.5, "seed": seed, "status": status,
            "meta": {"tune": {"lr": lr, "grid": [0.1, 0.01, 0.001], "per": per}},
            "result": {"val_acc": val, "test_acc": test,
                       "fairness": {"retrain_epochs": epochs, "macs": macs, "total_compute": 1000 + epochs * macs}}}


def test_the_validation_choice_is_taken_where_test_would_choose_otherwise():
    rows = [_row("a", 0.1, 0, val=0.60, test=0.90), _row("b", 0.01, 0, val=0.80, test=0.70),
            _row("c", 0.001, 0, val=0.70, test=0.95), {"run_id": "u", "arm": "l1", "ratio": 0.5, "seed": 0,
                                                          "status": "done", "meta": {}, "result": {"test_acc": 0.5}}]
    out = select_rows(rows)
    assert [r["run_id"] for r in out] == ["b", "u"]  # 0.01 is best on validation (test would take 0.001)
    tuning = out[0]["result"]["tuning"]
    assert (tuning["lr"], tuning["candidates"]) == (0.01, 3)
    # the selected run's compute counts every candidate's retraining: 1000 + 200 for it, + 200 + 200 for the others
    assert out[0]["result"]["fairness"]["total_compute"] == 1000 + 3 * 200
    assert out[0]["result"]["fairness"]["tuning"] == "lr over [0.1, 0.01, 0.001] on validation, per seed"


def test_per_ratio_selects_one_lr_by_the_mean_over_seeds():
    rows = [_row("a0", 0.1, 0, 0.90, 0.5, per="ratio"), _row("a1", 0.1, 1, 0.50, 0.5, per="ratio"),  # mean 0.70
            _row("b0", 0.01, 0, 0.80, 0.5, per="ratio"), _row("b1", 0.01, 1, 0.75, 0.5, per="ratio"),  # mean 0.775
            _row("c0", 0.001, 0, 0.10, 0.9, per="ratio"), _row("c1", 0.001, 1, 0.10, 0.9, per="ratio")]
    assert [r["run_id"] for r in select_rows(rows)] == ["b0", "b1"]  # per seed would take a0 for seed 0


def test_an_unfinished_group_reports_nothing_as_done():
    rows = [_row("a", 0.1, 0, 0.6, 0.9), _row("b", 0.01, 0, None, None, status="pending"), _row("c", 0.001, 0, 0.7, 0.9)]
    assert [(r["run_id"], r["status"]) for r in select_rows(rows)] == [("b", "pending")]


def test_the_audit_says_a_tuned_arm_is_not_s32_with_an_untuned_one():
    pair = {"a": "ref", "b": "t", "holds": ["S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2"], "strictest": "S4.2",
            "table4": "S4.2", "differs": [], "unknown": [], "rate": "macs"}
    result = {"pairs": [pair], "summary": {"short": [], "meets_target": True, "strictest": "S4.2",
                                           "holds_every": pair["holds"]}}
    marked = mark_tuning(result, {"ref": None, "t": "lr over [0.1, 0.01] on validation, per seed"}, "ref", "S3.2")
    [p] = marked["pairs"]
    assert p["strictest"] == "S3.1" and "S3.2" not in p["holds"] and "retrain_lr" in p["differs"]
    assert "untuned" in p["tuning"] and not marked["summary"]["meets_target"]
    assert marked["summary"]["short"][0]["differs"] == ["retrain_lr"]
    same = mark_tuning(result, {"ref": "x", "t": "x"}, "ref", "S3.2")  # tuned alike: untouched
    assert same["pairs"][0]["strictest"] == "S4.2" and same["summary"]["meets_target"]


def test_candidates_are_real_runs_of_the_arm(tmp_path):
    exp = expand(load_study(write(tmp_path, TUNED)), tmp_path / "study.yaml")
    tuned = [j for j in exp.runs if j.arm == "l1-tuned"]
    assert sorted((j.seed, j.meta["tune"]["lr"]) for j in tuned) == [(0, 0.02), (0, 0.05), (1, 0.02), (1, 0.05)]
    assert {j.spec["regime"]["lr"] for j in tuned} == {0.05, 0.02}
    assert all(j.base_id in {b.run_id for b in exp.bases} for j in tuned)


@pytest.mark.parametrize("tune, says", [
    ({"lr": []}, "LR grid is empty"),
    ({"lr": [0.1], "on": "test"}, "selects on 'validation' only"),
    ({"lr": [0.1, 0.1]}, "distinct"),
    ({"lr": [0.1], "per": "arm"}, "per"),
])
def test_malformed_tuning_is_refused(tmp_path, tune, says):
    study = copy.deepcopy(TUNED)
    study["arms"][1]["tune"] = tune
    with pytest.raises(ConfigError, match=says):
        expand(load_study(write(tmp_path, study)), tmp_path / "study.yaml")


def test_a_regime_without_lr_cannot_be_tuned(tmp_path):
    study = copy.deepcopy(TUNED)
    study["arms"][1].update(regime="lr-rewind", retrain={"epochs": 1})
    with pytest.raises(ConfigError, match="does not read lr"):
        expand(load_study(write(tmp_path, study)), tmp_path / "study.yaml")


def test_a_tuned_study_reports_only_the_validation_choice(tmp_path):
    path = write(tmp_path, TUNED)
    assert run_study(path, tmp_path / "out", progress=False) == 0
    store = Store.open(tmp_path / "out")
    try:
        stored = [r for r in store.rows(kind="run") if r["arm"] == "l1-tuned"]
    finally:
        store.close()
    assert len(stored) == 4  # 2 LRs x 2 seeds, all run
    rows = [r for r in study_rows(tmp_path / "out") if r["arm"] == "l1-tuned"]
    assert sorted(r["seed"] for r in rows) == [0, 1]
    for row in rows:
        mine = [r for r in stored if r["seed"] == row["seed"]]
        best = max(mine, key=lambda r: (r["result"]["val_acc"], -[0.05, 0.02].index(r["meta"]["tune"]["lr"])))
        assert row["run_id"] == best["run_id"] and row["test_acc"] == best["result"]["test_acc"]
        assert row["tuning"]["candidates"] == 2
    audit = audit_study(tmp_path / "out")
    tuned = [p for p in audit["pairs"] if p["arm"] == "l1-tuned"]
    assert len(tuned) == 2 and all("S3.2" not in p["holds"] and "untuned" in p["tuning"] for p in tuned)
    from prunebench.cli import main

    assert main(["report", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "l1-tuned: LR tuned over [0.05, 0.02] on validation, per seed (2 runs per seed" in text
    assert "the retraining LR was chosen by another rule: l1-tuned: lr over [0.05, 0.02]" in text
    assert text.count("l1-tuned @ 0.5") == 1  # one row in the metrics table: the selected runs only

"""A pruning stage that diverges ends its run ``diverged`` in the stage, like a diverged retraining:
no traceback, no pruned model, the stage's history up to the divergence kept (issue #10 follow-up)."""
from __future__ import annotations

import json

import pytest

from prunebench.errors import ArtifactError
from prunebench.study import Store, run_study, study_rows
from prunebench.study.worker import finished_outcome
from test_methods import run, spec_of
from test_study_spec import TINY, edited, write

HOT = "0:1e6"  # slimming's stage at LR 10^6 on the tiny CNN: outputs non-finite after epoch 1


def test_a_diverged_pruning_stage_ends_the_run_diverged_in_the_stage(tmp_path):
    spec = spec_of("slimming", {"epochs": 3, "s": 1e-3, "lr_schedule": HOT})
    r = run(spec, tmp_path, "slim")
    assert r["diverged"] is True and r["diverged_in"] == "stage"
    assert r["message"].startswith("diverged: in the pruning stage of method 'slimming', ")
    assert "epoch 1 (LR 1e+06)" in r["message"]
    # the stage stopped at the epoch it diverged in; its history up to there is kept
    assert r["stage"]["epochs"] == 1 and [h["epoch"] for h in r["stage"]["history"]] == [1]
    assert r["stage"]["lrs"] == [1e6, 1e6, 1e6] and "final" not in r["stage"]
    assert r["epochs"] == 0 and r["test_acc"] is None and "fairness" not in r
    out = tmp_path / "slim"
    # a complete directory of a run without a model: no weights, no plan, no retraining history
    assert sorted(p.name for p in out.iterdir()) == ["history.jsonl", "model.json", "result.json", "spec.json"]
    assert json.loads((out / "result.json").read_text()) == r
    assert (out / "history.jsonl").read_text() == ""
    stored = json.loads((out / "spec.json").read_text())
    assert stored["run_id"] == spec.spec_hash() and stored["resolved"]["stage"]["lr_schedule"] == HOT
    assert not (tmp_path / ".slim.partial").exists()
    with pytest.raises(ArtifactError, match="holds no model: the run's pruning stage diverged"):
        from prunebench.loading import load_model

        load_model(out)
    # a worker finding this directory takes it as the run's finished outcome (never re-runs it)
    outcome = finished_outcome(out, spec.spec_hash())
    assert outcome["status"] == "diverged" and outcome["error"] == r["message"]


def test_a_diverged_retraining_says_it_diverged_in_the_retraining(tmp_path):
    spec = spec_of("slimming", {"epochs": 1, "s": 1e-3}, regime={"name": "retrain", "epochs": 2, "lr_schedule": "0:1e12"})
    r = run(spec, tmp_path, "hot-retrain")
    assert r["diverged"] is True and r["diverged_in"] == "retraining" and r["stage"]["epochs"] == 1


def test_a_study_arm_whose_stage_diverges_ends_diverged_and_the_others_done(tmp_path):
    study = edited(seeds=[0], ratios=[0.5], jsv_samples=0, arms=[
        {"name": "l1", "criterion": "l1"},
        {"name": "greg", "criterion": "l1",
         "method": {"name": "greg-1", "args": {"epochs": 2, "lr_schedule": "0:0.01", "delta": 0.5, "interval": 1,
                                                "mag_ratio_limit": None}}},
        {"name": "greg-hot", "criterion": "l1",
         "method": {"name": "greg-1", "args": {"epochs": 2, "lr_schedule": HOT, "delta": 0.5, "interval": 1,
                                                "mag_ratio_limit": None}}},
    ])
    path = write(tmp_path, study)
    out = tmp_path / "out"
    assert run_study(path, out, progress=False, quiet=True) == 1  # some run diverged
    by_arm = {r["arm"]: r for r in study_rows(out)}
    assert by_arm["l1"]["status"] == "done" and by_arm["greg"]["status"] == "done"
    hot = by_arm["greg-hot"]
    assert hot["status"] == "diverged" and hot["error"].startswith("diverged: in the pruning stage of method 'greg-1'")
    store = Store.open(out)
    try:
        row = store.get(hot["run_id"])
    finally:
        store.close()
    assert row["result"]["diverged_in"] == "stage" and row["result"]["stage"]["history"]
    from prunebench.report.checks import diverged_warnings

    assert diverged_warnings(study_rows(out)) == ["arm greg-hot diverged in 1 run(s): ratio 0.5 seed 0"]
    assert run_study(path, out, progress=False, quiet=True) == 1  # a re-run skips it: still diverged
    assert {r["arm"]: r["status"] for r in study_rows(out)}["greg-hot"] == "diverged"
    import prunebench.cli as cli

    assert cli.main(["report", str(out)]) == 0  # the report's divergence warning names the run
    text = (out / "report" / "report.md").read_text()
    assert "arm greg-hot diverged in 1 run(s): ratio 0.5 seed 0" in text
    assert "diverged: in the pruning stage of method 'greg-1'" in text

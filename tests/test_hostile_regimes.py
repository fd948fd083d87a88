"""Hostile retraining schedules, tuning sections and sanity arms (issue 13): one line, exit 2, nothing
written, through `prunebench run` (the shared contract of tests/hostile.py)."""
from __future__ import annotations

import copy

import pytest
import yaml

from hostile import Case, check_case
from test_study_spec import TINY


def study_with(**arm_fields):
    def setup(tmp_path):
        study = copy.deepcopy(TINY)
        fields = {"criterion": "l1", **arm_fields} if "of" not in arm_fields else arm_fields  # a sanity arm names no criterion
        study["arms"] = [{"name": "l1", "criterion": "l1"}, {"name": "x", **fields}]
        path = tmp_path / "study.yaml"
        path.write_text(yaml.safe_dump(study))
        return ["run", path, "--out", tmp_path / "out"]
    return setup


CASES = [
    Case("warm-up as long as the run", study_with(retrain={"epochs": 2, "lr_schedule": "linear:peak=0.1,warmup=1"}),
         "warmup is a fraction of the run"),
    Case("warm-up longer than the run", study_with(retrain={"epochs": 2, "lr_schedule": "onecycle:peak=0.1,warmup=1.5"}),
         "warmup"),
    Case("regime warm-up past the run", study_with(regime={"name": "allr", "args": {"warmup": 1.2}},
                                                   retrain={"epochs": 2}), "warmup"),
    Case("per-iteration schedule extended", study_with(regime="clr", retrain={"epochs": 2, "extend": 1}), "extend"),
    Case("fine-tune without epochs", study_with(regime="fine-tune", retrain={"lr": 0.01}), "does not read retrain.lr"),
    Case("empty LR grid", study_with(tune={"lr": []}), "LR grid is empty"),
    Case("tuning on test", study_with(tune={"lr": [0.05], "on": "test"}), "validation"),
    Case("tuning a regime without lr", study_with(regime="lr-rewind", retrain={"epochs": 1}, tune={"lr": [0.05]}),
         "does not read lr"),
    Case("tuning LR below the base's final LR", study_with(tune={"lr": [0.05, 0.001]}), "arm 'x' ratio 0.25 seed 0 lr 0.001"),
    Case("tuning LR not a number", study_with(tune={"lr": ["fast"]}), "tune.lr"),
    Case("sanity arm of nothing", study_with(sanity="inverted", of="nope"), "not another arm"),
    Case("unknown sanity kind", study_with(sanity="backwards", of="l1"), "sanity"),
    Case("shuffled filter mask", study_with(sanity="shuffled-mask", of="l1"), "granularity 'weight'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_regime_inputs(case, tmp_path, capsys):
    check_case(case, tmp_path, capsys)

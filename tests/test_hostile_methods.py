"""Malformed method sections, through the CLI: one line, exit 2, nothing written (tests/hostile.py)."""
import json
from pathlib import Path

import pytest
import yaml

from hostile import Case, check_case

RUN = {
    "data": {"name": "synthetic", "input_shape": [1, 16], "num_classes": 4, "num_samples": 128},
    "model": {"name": "cnn1d", "args": {"channels": [8, 8], "kernel_sizes": [3, 3], "strides": [1, 2]}},
    "base": {"train": {"epochs": 1, "lr_schedule": "0:0.1", "batch_size": 64}},
    "prune": {"ratio": 0.5},
    "regime": {"name": "retrain", "epochs": 1, "lr_schedule": "0:0.01"},
    "jsv_samples": 0,
}

STUDY = {
    "name": "m", "data": {"name": "synthetic", "input_shape": [1, 16], "num_classes": 4, "num_samples": 128},
    "model": RUN["model"], "base": {"epochs": 1, "lr_schedule": "0:0.1", "batch_size": 64},
    "retrain": {"epochs": 1, "lr_schedule": "0:0.01"}, "ratios": [0.5], "seeds": [0],
    "arms": [{"name": "a", "criterion": "l1"}], "reference": "a",
}


def pipeline_case(method, regime=None, base_dir=False):
    def setup(tmp: Path) -> list[str]:
        spec = json.loads(json.dumps(RUN))
        spec["method"] = method
        if regime is not None:
            spec["regime"] = regime
        if base_dir:  # an existing base model, so nothing would be trained before the stage
            from prunebench.config import TrainRunSpec
            from prunebench.train.run import train_dense

            run = TrainRunSpec(data=spec["data"], model=spec["model"], train=spec["base"]["train"])
            train_dense(run, tmp / "base", progress=False)
            spec["base"] = {"model_dir": str(tmp / "base")}
        (tmp / "run.yaml").write_text(yaml.safe_dump(spec))
        return ["pipeline", "--config", tmp / "run.yaml", "--out", tmp / "out", "--base-root", tmp / "bases"]

    return setup


def study_case(method):
    def setup(tmp: Path) -> list[str]:
        study = json.loads(json.dumps(STUDY))
        study["arms"][0]["method"] = method
        (tmp / "study.yaml").write_text(yaml.safe_dump(study))
        return ["run", tmp / "study.yaml", "--out", tmp / "runs"]

    return setup


def _with_prune(setup, tmp: Path, prune: dict) -> list[str]:
    argv = setup(tmp)
    spec = yaml.safe_load((tmp / "run.yaml").read_text())
    spec["prune"] = prune
    (tmp / "run.yaml").write_text(yaml.safe_dump(spec))
    return argv


CASES = [
    Case("unknown method", pipeline_case({"name": "lottery"}), "unknown method 'lottery'"),
    Case("unknown parameter", pipeline_case({"name": "greg-1", "args": {"deltaa": 0.1}}), "unknown key 'deltaa'"),
    Case("negative strength (greg)", pipeline_case({"name": "greg-1", "args": {"delta": -0.1}}), "delta"),
    Case("negative strength (slimming)", pipeline_case({"name": "slimming", "args": {"s": -1e-4}}), "s: input should be greater"),
    Case("AGP window past the stage", pipeline_case({"name": "agp", "args": {"epochs": 4, "end_epoch": 6}}),
         "after the pruning stage's 4 epochs"),
    Case("stage LR step past its end", pipeline_case({"name": "sfp", "args": {"epochs": 3, "lr_schedule": "0:0.01,3:0.001"}}),
         "changes the LR at epoch 3"),
    Case("stage of zero epochs", pipeline_case({"name": "slimming", "args": {"epochs": 0}}), "epochs"),
    Case("method args not a mapping", pipeline_case({"name": "tpp", "args": [1, 2]}), "args"),
    Case("method with a snapshot regime", pipeline_case({"name": "greg-1"}, {"name": "weight-rewind", "rewind_epoch": 0}),
         "final base weights"),
    Case("slimming with per-layer ratios", pipeline_case({"name": "slimming"}) , ""),
    Case("stage shorter than the GReg ramp", pipeline_case({"name": "greg-1", "args": {"epochs": 1}}, base_dir=True),
         "ramp needs 99991 iterations"),
    Case("AGP starting above its final ratio", pipeline_case({"name": "agp", "args": {"initial_sparsity": 0.8}}),
         "initial_sparsity is above the final ratio"),
    Case("AGP weight masks by another criterion",
         lambda tmp: _with_prune(pipeline_case({"name": "agp"}), tmp, {"ratio": 0.5, "granularity": "weight", "criterion": "random"}),
         "give criterion 'magnitude'"),
    Case("sanity check of a method's choice",
         lambda tmp: _with_prune(pipeline_case({"name": "sfp"}), tmp, {"ratio": 0.5, "sanity": "same-ratios-random"}),
         "prunes with method 'sfp', whose choice comes from its pruning stage"),
    Case("JSV tracking without inputs", pipeline_case({"name": "sfp", "args": {"track_jsv": True}}), "jsv_samples > 0"),
    Case("slimming with another criterion", pipeline_case({"name": "slimming"}), "give criterion 'bn-scale'"),
    Case("study arm: unknown method", study_case({"name": "nope"}), "unknown method 'nope'"),
    Case("study arm: negative strength", study_case({"name": "tpp", "args": {"lw": -1}}), "lw"),
    # Caught by the study's dry run with the real steps per epoch (the training split is loaded once),
    # before the study directory exists, not when the runs start.
    Case("study arm: stage shorter than the GReg ramp", study_case({"name": "greg-1", "args": {"epochs": 1}}),
         "ramp needs 99991 iterations, but the pruning stage has 2 (1 epochs x 2)"),
    Case("study arm: stage shorter than TPP's ramp", study_case({"name": "tpp", "args": {"epochs": 1}}),
         "method 'tpp': its ramp and staged zeroing need"),
    Case("study arm: IMP rewinds past the base run", study_case({"name": "imp", "args": {"rewind_epoch": 5}}),
         "rewind_epoch 5 must be below the base run's 1 epochs"),
]
# slimming with per-layer ratios needs a ratio list: patch that case's prune spec
_slim = next(c for c in CASES if c.name == "slimming with per-layer ratios")


def _slim_setup(tmp: Path) -> list[str]:
    argv = pipeline_case({"name": "slimming"})(tmp)
    spec = yaml.safe_load((tmp / "run.yaml").read_text())
    spec["prune"] = {"ratio": "0:0.5,1:0.3"}
    (tmp / "run.yaml").write_text(yaml.safe_dump(spec))
    return argv


CASES[CASES.index(_slim)] = Case(_slim.name, _slim_setup, "one float ratio")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_method_sections(case, tmp_path, capsys):
    check_case(case, tmp_path, capsys)

"""Study files: validation (one line, exit 2, nothing written) and grid expansion."""
from __future__ import annotations

import copy
import json

import pytest
import yaml

import prunebench.cli as cli
from prunebench.errors import ConfigError
from prunebench.study import expand, load_study
from prunebench.study.grid import fill_ratio, prune_fields
from prunebench.study.spec import ArmSpec

TINY = {
    "name": "tiny",
    "data": {"name": "synthetic", "input_shape": [16], "num_classes": 4, "num_samples": 128},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16}},
    "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
    "retrain": {"epochs": 2, "lr": 0.01},
    "arms": [{"name": "l1", "criterion": "l1"}, {"name": "rand", "criterion": "random"}],
    "ratios": [0.25, 0.5],
    "seeds": [0, 1],
    "reference": "l1",
    "jsv_samples": 8,
}


def write(tmp_path, study, name="study.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(study))
    return path


def edited(**changes):
    study = copy.deepcopy(TINY)
    for key, value in changes.items():
        if value is None:
            study.pop(key, None)
        else:
            study[key] = value
    return study


@pytest.fixture
def cli_main(monkeypatch):
    monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "study"] if "study" not in cli.GROUPS else cli.GROUPS)
    return cli.main


BAD = {
    "unknown arm field": (edited(arms=[{"name": "l1", "colour": "red"}]), "unknown key 'arms.0.colour'"),
    "duplicate arm names": (edited(arms=[{"name": "l1"}, {"name": "l1", "criterion": "random"}]),
                            "duplicate arm names: l1"),
    "empty ratio list": (edited(ratios=[]), "ratios"),
    "reference arm missing": (edited(reference="nope"), "reference: arm 'nope' is not an arm"),
    "base model directory absent": (edited(base="no/such/model"), "base model directory 'no/such/model' not found"),
    "seeds not integers": (edited(seeds=[0, 1.5]), "seeds.1"),
    "seeds as strings": (edited(seeds=["0"]), "seeds.0"),
    "ratio out of range": (edited(ratios=[0.5, 1.0]), "[0, 1)"),
    "seed in the base recipe": (edited(base={**TINY["base"], "seed": 3}), "seed is set by the study's 'seeds'"),
    "no arms": (edited(arms=[]), "arms"),
    "unknown criterion": (edited(arms=[{"name": "l1", "criterion": "bogus"}]), "unknown criterion 'bogus'"),
    "identical arms": (edited(arms=[{"name": "l1"}, {"name": "again"}]), "is the same run as"),
    "fixed prune ignores ratios": (edited(arms=[{"name": "l1", "prune": "0-1:0.5"}]), "is the same run as"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_study_is_one_line_exit_2_and_writes_nothing(case, tmp_path, cli_main, capsys):
    study, expected = BAD[case]
    path = write(tmp_path, study)
    out = tmp_path / "out"
    assert cli_main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("prunebench: error: "), err
    assert expected in err and str(path) in err, err
    assert not out.exists()


def test_not_a_mapping_and_missing_file(tmp_path, cli_main, capsys):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    assert cli_main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    assert cli_main(["run", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "must be a mapping" in err[0] and "no such file" in err[1]
    assert not (tmp_path / "o").exists()


def test_expansion_counts_ids_and_shared_bases(tmp_path):
    exp = expand(load_study(write(tmp_path, TINY)), tmp_path / "study.yaml")
    assert len(exp.runs) == 2 * 2 * 2 and len(exp.bases) == 2  # one base per seed, shared by both arms
    assert len({j.run_id for j in exp.jobs}) == len(exp.jobs)
    for job in exp.runs:
        assert job.base_id in {b.run_id for b in exp.bases}
        base = next(b for b in exp.bases if b.run_id == job.base_id)
        assert base.seed == job.seed
        assert job.spec["prune"]["ratio"] == job.ratio and job.spec["seed"] == job.seed
        assert job.spec["regime"] == {**job.spec["regime"], "name": "retrain", "lr": 0.01, "epochs": 2}
    # ids are the hashes of the canonical specs: expanding again gives the same ids
    again = expand(load_study(tmp_path / "study.yaml"), tmp_path / "study.yaml")
    assert [j.run_id for j in again.jobs] == [j.run_id for j in exp.jobs]


def test_scratch_arm_varies_with_ratio_and_pxfy_needs_snapshots(tmp_path):
    study = edited(arms=[{"name": "l1"}, {"name": "scratch", "regime": "scratch-e"},
                         {"name": "p1", "regime": {"name": "pxfy", "prune_epoch": 1}}], seeds=[0])
    exp = expand(load_study(write(tmp_path, study)), None)
    scratch = [j for j in exp.runs if j.arm == "scratch"]
    assert len({j.run_id for j in scratch}) == 2
    assert exp.bases[0].snapshots == (1,)


def test_arm_recipe_overrides_study_recipe_key_by_key(tmp_path):
    study = edited(arms=[{"name": "l1"}, {"name": "big", "retrain": {"lr": 0.1}}], seeds=[0], ratios=[0.5])
    exp = expand(load_study(write(tmp_path, study)), None)
    regimes = {j.arm: j.spec["regime"] for j in exp.runs}
    assert (regimes["l1"]["lr"], regimes["l1"]["epochs"]) == (0.01, 2)
    assert (regimes["big"]["lr"], regimes["big"]["epochs"]) == (0.1, 2)


def test_prune_templates():
    assert fill_ratio("[0-1:{ratio}]", 0.3) == "[0-1:0.3]"
    assert fill_ratio([0, {"ratio": None}, "{ratio}", 0], 0.5) == [0, 0.5, 0.5, 0]  # YAML's unquoted {ratio}
    arm = ArmSpec(name="a", criterion="random", prune={"ratio": "{ratio}", "skip": [0]})
    assert prune_fields(arm, 0.4) == {"ratio": 0.4, "skip": [0], "criterion": "random"}
    assert prune_fields(ArmSpec(name="b"), 0.2) == {"ratio": 0.2, "criterion": "l1"}


def test_base_model_directory_relative_to_study_file(tmp_path):
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "models" / "base" / "model.json").write_text(json.dumps({"name": "mlp", "args": {"depth": 3, "width": 16}}))
    (tmp_path / "models" / "base" / "weights.safetensors").write_text("{}")
    exp = expand(load_study(write(tmp_path, edited(base="models/base", retrain={"epochs": 2, "lr_schedule": "0.01"}))),
                 tmp_path / "study.yaml")
    assert exp.base_dir == tmp_path / "models" / "base" and not exp.bases
    assert all(j.base_id is None and j.base_path == "models/base" for j in exp.runs)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="is not a model directory"):
        expand(load_study(write(tmp_path, edited(base=str(empty)), "b.yaml")), tmp_path / "b.yaml")


def test_arm_schedule_replaces_the_study_derivation(tmp_path):
    study = edited(arms=[{"name": "l1"}, {"name": "fixed", "retrain": {"lr_schedule": "0:0.05,1:0.005"}}],
                   seeds=[0], ratios=[0.5])
    regimes = {j.arm: j.spec["regime"] for j in expand(load_study(write(tmp_path, study)), None).runs}
    assert regimes["fixed"]["lr_schedule"] == "0:5e-2,1:5e-3" and regimes["fixed"]["lr"] is None
    assert regimes["fixed"]["epochs"] == 2 and regimes["l1"]["lr_schedule"] is None


def test_base_snapshots_added_later_requeue_a_finished_base(tmp_path):
    from prunebench.study import Store

    exp = expand(load_study(write(tmp_path, edited(seeds=[0]))), None)
    store = Store.create(tmp_path / "dir")
    store.sync_jobs(exp.jobs)
    base = exp.bases[0]
    store.finish(base.run_id, {"status": "done", "result": {}}, store.start(base.run_id, 1))
    store.sync_jobs(exp.jobs)
    assert store.get(base.run_id)["status"] == "done"
    more = expand(load_study(write(tmp_path, edited(seeds=[0], arms=[
        {"name": "l1"}, {"name": "p", "regime": {"name": "pxfy", "prune_epoch": 1}}]), "more.yaml")), None)
    store.sync_jobs(more.jobs)
    assert store.get(base.run_id)["status"] == "pending" and store.get(base.run_id)["snapshots"] == [1]
    assert len(store.rows()) == 1 + 4  # 2 old l1 runs are the same runs; 2 pxfy runs are new


def test_an_arm_may_name_its_own_model_and_gets_its_own_bases(tmp_path):
    study = edited(arms=[{"name": "l1"}, {"name": "wide", "model": {"name": "mlp", "args": {"depth": 3, "width": 32}}}],
                   seeds=[0])
    exp = expand(load_study(write(tmp_path, study)), None)
    assert len(exp.bases) == 2
    wide = [j for j in exp.runs if j.arm == "wide"]
    assert all(j.spec["model"]["args"]["width"] == 32 for j in wide)
    assert {j.base_id for j in wide}.isdisjoint({j.base_id for j in exp.runs if j.arm == "l1"})


def test_squeezed_pxfy_arm_keeps_every_snapshot_up_to_its_epoch(tmp_path):
    study = edited(arms=[{"name": "l1"}, {"name": "sxb", "regime": {"name": "pxfy", "prune_epoch": 1, "squeeze": True}}],
                   seeds=[0])
    exp = expand(load_study(write(tmp_path, study)), None)
    assert exp.bases[0].snapshots == (0, 1)


@pytest.mark.parametrize("change, words", [
    ({"arms": [{"name": "l1"}, {"name": "p", "regime": "pxfy"}]}, "pxfy' needs prune_epoch"),
    ({"arms": [{"name": "l1"}, {"name": "p", "regime": {"name": "pxfy", "prune_epoch": 50}}]}, "prune_epoch in 0..1"),
    ({"arms": [{"name": "l1"}, {"name": "w", "regime": {"name": "weight-rewind", "rewind_epoch": 50}}]}, "rewind_epoch in 0..1"),
    ({"arms": [{"name": "l1"}, {"name": "x", "prune": "*nomatch*:{ratio}"}]}, "matches no Conv/Linear layer"),
    ({"arms": [{"name": "l1"}, {"name": "x", "prune": "[0-9:{ratio}]"}]}, "out of range"),
    ({"arms": [{"name": "l1"}, {"name": "s", "regime": "scratch-e", "reinit": "orthp"}]}, "reinit 'orthp' does not apply"),
    ({"retrain": {"epochs": 0, "lr": 0.01}}, "0 epochs cannot hold"),
])
def test_runs_that_could_only_fail_are_refused_before_anything_is_written(change, words, tmp_path, cli_main, capsys):
    path = write(tmp_path, edited(**change))
    out = tmp_path / "out"
    assert cli_main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_an_external_base_must_be_the_model_the_study_prunes(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "model.json").write_text(json.dumps({"name": "mlp7-relu", "args": {}}))
    (tmp_path / "base" / "weights.safetensors").write_text("{}")
    with pytest.raises(ConfigError, match="holds mlp7-relu {}, but the run prunes mlp"):
        expand(load_study(write(tmp_path, edited(base="base", retrain={"epochs": 2, "lr_schedule": "0.01"}))),
               tmp_path / "study.yaml")


def test_the_study_device_reaches_runs_on_an_external_base(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "model.json").write_text(json.dumps({"name": "mlp", "args": {"depth": 3, "width": 16}}))
    (tmp_path / "base" / "weights.safetensors").write_text("{}")
    study = edited(base="base", device="auto", retrain={"epochs": 2, "lr_schedule": "0.01"})
    exp = expand(load_study(write(tmp_path, study)), tmp_path / "study.yaml")
    assert all(j.device == "auto" and j.spec["device"] == "auto" for j in exp.runs)


def test_zero_workers_is_an_error(tmp_path, cli_main, capsys):
    assert cli_main(["run", str(write(tmp_path, TINY)), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "workers" in capsys.readouterr().err and not (tmp_path / "o").exists()

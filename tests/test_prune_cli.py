"""`prunebench inspect / prune / replay` (the group is added to GROUPS here)."""
import json

import pytest
import torch

import prunebench.cli as cli
from prunebench import artifacts, loading
from prunebench.models import build_model


@pytest.fixture(autouse=True)
def _group(monkeypatch):
    if "prune" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", cli.GROUPS + ["prune"])


@pytest.fixture
def dense_dir(tmp_path):
    model = build_model("resnet20", seed=0)
    return artifacts.write_model_dir(
        tmp_path / "dense", model, info=artifacts.model_info(model, (3, 32, 32), 10),
        spec={"kind": "train"}, history=[], result={"test_acc": 0.1},
    )


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_inspect_model_and_preset(capsys):
    assert cli.main(["inspect", "--model", "resnet56", "--json"]) == 0
    out = _json(capsys)
    assert out["params"] == 853018 and out["macs"] == 125485696 and out["widths"]["layer1.0.conv1"] == [16, 16]
    assert cli.main(["inspect", "--model", "resnet56", "--prune", "li-resnet56-b", "--json"]) == 0
    out = _json(capsys)
    assert out["dense_params"] == 853018 and out["params"] == 735712 and out["speedup"] == pytest.approx(1.3804, abs=1e-4)
    assert cli.main(["inspect", "--model", "mlp7-linear", "--prune", "[0-5:0.8, 6:0]"]) == 0
    text = capsys.readouterr().out
    assert "sparsity" in text and "layers.0" in text and "100 -> 20" in text


@pytest.mark.parametrize("argv, message", [
    (["--prune", "1.2"], "pruning ratio 1.2 is outside [0, 1)"),
    (["--prune", "*nothing*:0.5"], "matches no Conv/Linear layer"),
    (["--prune", "[0, 0.5, 0.5, 0]"], "stage ratio list has 4 entries; this model needs 5"),
    (["--prune", "0.5", "--criterion", "l3"], "unknown criterion 'l3'"),
])
def test_bad_input_exits_2_and_writes_nothing(dense_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "pruned"
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_prune_writes_a_loadable_dir_and_replay_matches(dense_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--prune", "[0,0.5,0.5,0.5,0]", "--criterion", "l1",
                     "--out", str(out), "--json"]) == 0
    res = _json(capsys)
    assert res["sparsity"] > 0.3 and res["speedup"] > 1.5 and len(res["dense_sha256"]) == 16
    model, md = loading.load_model(out)  # rebuilt through pruning.replaying.restructure
    assert model.layer1[0].conv1.out_channels == 8 and md.plan["granularity"] == "filter"
    assert md.info["name"] == "resnet20"
    assert cli.main(["replay", "--plan", str(out / "plan.json"), "--model-dir", str(dense_dir), "--out", str(tmp_path / "re")]) == 0
    again, _ = loading.load_model(tmp_path / "re")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    capsys.readouterr()
    assert cli.main(["inspect", "--model-dir", str(out), "--json", "--latency"]) == 0
    rep = _json(capsys)
    assert rep["params"] == res["params"] and rep["latency"]["threads"] == 1


def test_replay_refuses_a_plan_for_another_model(dense_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--prune", "0.3", "--out", str(out)]) == 0
    other = build_model("resnet20", seed=1)
    other_dir = artifacts.write_model_dir(tmp_path / "other", other, info=artifacts.model_info(other, (3, 32, 32), 10),
                                          spec={}, history=[], result={})
    capsys.readouterr()
    assert cli.main(["replay", "--plan", str(out / "plan.json"), "--model-dir", str(other_dir), "--out", str(tmp_path / "x")]) == 2
    assert "plan was computed on dense weights" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unstructured_with_reinit_keeps_masks(dense_dir, tmp_path, capsys):
    out = tmp_path / "sparse"
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--prune", "0.8", "--criterion", "magnitude",
                     "--granularity", "weight", "--reinit", "fresh", "--out", str(out), "--json"]) == 0
    res = _json(capsys)
    assert res["effective_params"] < res["dense_params"] and (out / "masks.safetensors").is_file()
    model, _ = loading.load_model(out)
    from prunebench.pruning import masks_of

    masks = masks_of(model)
    w = model.layer1[0].conv1.weight
    assert masks is not None and torch.count_nonzero(w[~masks.masks["layer1.0.conv1"]]) == 0


def test_replay_reproduces_a_reinitialised_prune_bit_for_bit(dense_dir, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--prune", "0.5", "--reinit", "orthp", "--seed", "3", "--out", str(a)]) == 0
    assert json.loads((a / "plan.json").read_text())["reinit"] == {"name": "orthp", "seed": 3}
    assert cli.main(["replay", "--plan", str(a / "plan.json"), "--model-dir", str(dense_dir), "--out", str(b)]) == 0
    assert (a / "weights.safetensors").read_bytes() == (b / "weights.safetensors").read_bytes()


def _edited_plan(src, tmp_path, name, edit):
    plan = json.loads((src / "plan.json").read_text())
    edit(plan)
    path = tmp_path / name
    path.write_text(json.dumps(plan))
    return path


def test_bad_plans_and_outputs_are_one_line_errors(dense_dir, tmp_path, capsys):
    a = tmp_path / "a"
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--prune", "0.5", "--out", str(a)]) == 0
    capsys.readouterr()
    cases = [
        (a, "cannot read the plan"),  # a directory, not a plan file
        (_edited_plan(a, tmp_path, "p1.json", lambda p: p["layers"][0].pop("kept")), "list of integer 'kept' indices"),
        (_edited_plan(a, tmp_path, "p2.json", lambda p: p["layers"][0].update(name="bogus")), "'bogus' is not a layer of resnet20"),
        (_edited_plan(a, tmp_path, "p3.json", lambda p: p.update(input_shape=[3, 16, 16])), "computed for input shape [3, 16, 16]"),
        (_edited_plan(a, tmp_path, "p4.json", lambda p: p.update(layers="x")), "'layers' must be a list"),
    ]
    for plan, message in cases:
        out = tmp_path / "out"
        assert cli.main(["replay", "--plan", str(plan), "--model-dir", str(dense_dir), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not out.exists()
    before = (dense_dir / "weights.safetensors").read_bytes()
    assert cli.main(["prune", "--model-dir", str(dense_dir), "--prune", "0.5", "--out", str(dense_dir)]) == 2
    assert "is the dense model directory itself" in capsys.readouterr().err
    assert (dense_dir / "weights.safetensors").read_bytes() == before
    assert cli.main(["inspect", "--model-dir", str(a), "--prune", "0.3"]) == 2
    assert "--prune apply to --model, not --model-dir" in capsys.readouterr().err
    assert cli.main(["inspect", "--model-dir", str(a), "--latency", "--threads", "0"]) == 2
    assert "threads must be >= 1" in capsys.readouterr().err

"""Defaults that fit the data: per-data-set augmentation, a model that cannot take the data's shape
and an LR step past the last epoch are refused before anything is written."""
from __future__ import annotations

import copy

import pytest
import torch
import yaml

import prunebench.cli as cli
from prunebench.config import DataSpec, TrainSpec
from prunebench.data import load_data
from prunebench.errors import ConfigError
from prunebench.models import build_model
from prunebench.study import expand
from prunebench.study.fit import check_milestones, data_shape
from prunebench.study.spec import parse_study
from prunebench.train.loop import train

from test_study_spec import TINY


@pytest.fixture
def cli_main(monkeypatch):
    if "study" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "study"])
    return cli.main


def _weights_after_one_epoch(data_spec, model_name, augment):
    data = load_data(data_spec)
    model = build_model(model_name, data.input_shape, data.num_classes, seed=0)
    train(model, data, TrainSpec(epochs=1, lr_schedule="0:0.05", batch_size=32, seed=0), augment=augment)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_synthetic_images_are_not_augmented_by_default_mnist1d_still_is(tmp_cache):
    # synthetic (3x8x8 images): augment true (the default) trains bit for bit like augment false.
    syn = DataSpec(name="synthetic", num_samples=128)
    assert torch.equal(_weights_after_one_epoch(syn, "mlp", True), _weights_after_one_epoch(syn, "mlp", False))
    # mnist1d keeps its default random shift: its generator itself translates every signal (label-preserving).
    m1d = DataSpec(name="mnist1d", num_samples=256)
    assert not torch.equal(_weights_after_one_epoch(m1d, "cnn1d", True), _weights_after_one_epoch(m1d, "cnn1d", False))


def test_known_data_shapes():
    assert data_shape(DataSpec(name="mnist1d")) == ((1, 40), 10)
    assert data_shape(DataSpec(name="synthetic", input_shape=(16,), num_classes=4)) == ((16,), 4)
    assert data_shape(DataSpec(name="cifar100")) == ((3, 32, 32), 100)
    assert data_shape(DataSpec(name="imagefolder")) is None  # only the files can tell


def test_resnet56_on_mnist1d_is_refused_before_anything_is_written(tmp_path, cli_main, capsys):
    study = {"name": "bad", "data": {"name": "mnist1d"}, "model": {"name": "resnet56"},
             "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01"}, "arms": [{"name": "l1"}],
             "ratios": [0.5], "seeds": [0], "reference": "l1"}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    assert cli_main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("arm 'l1' ratio 0.5 seed 0: model 'resnet56' cannot take mnist1d's inputs (1x40, 10 classes): "
            "model 'resnet56': input_shape must have 3 entries") in err
    assert not (tmp_path / "out").exists()
    # A model of the right rank whose layers cannot take the size is refused too (LeNet-5 needs 28x28 or more).
    lenet = {**study, "data": {"name": "synthetic", "input_shape": [1, 4, 4]}, "model": {"name": "lenet5"}}
    with pytest.raises(ConfigError, match=r"model 'lenet5' cannot take synthetic's inputs \(1x4x4, 10 classes\)"):
        expand(parse_study(lenet, "l.yaml"))


def test_an_lr_step_at_or_past_the_last_epoch_is_an_error():
    check_milestones(TrainSpec(epochs=3, lr_schedule="0:0.1,2:0.01"), "base", "s")  # epoch 2 exists
    with pytest.raises(ConfigError, match=r"s: base lr_schedule '0:1e-1,3:1e-2' changes the LR at epoch 3, "
                                          r"but the run has 3 epochs \(0 to 2\)"):
        check_milestones(TrainSpec(epochs=3, lr_schedule="0:0.1,3:0.01"), "base", "s")
    check_milestones(TrainSpec(epochs=3, lr_schedule="cosine:0.1:0.001"), "base", "s")  # no steps
    late_base = copy.deepcopy(TINY)
    late_base["base"]["lr_schedule"] = "0:0.1,5:0.01"
    with pytest.raises(ConfigError, match=r"base lr_schedule '0:1e-1,5:1e-2' changes the LR at epoch 5"):
        expand(parse_study(late_base, "b.yaml"))
    late_retrain = copy.deepcopy(TINY)
    late_retrain["arms"][1]["retrain"] = {"lr_schedule": "0:0.01,2:0.001"}  # 2 retraining epochs: 0 and 1
    with pytest.raises(ConfigError, match=r"arm 'rand' .*retraining lr_schedule '0:1e-2,2:1e-3' changes the LR at epoch 2"):
        expand(parse_study(late_retrain, "r.yaml"))


def test_pipeline_command_refuses_the_same_before_training(tmp_path, monkeypatch, capsys):
    if "pipeline" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "pipeline"])
    spec = {"kind": "pipeline", "data": {"name": "mnist1d"}, "model": {"name": "cnn1d"},
            "base": {"train": {"epochs": 2, "lr_schedule": "0:0.1,2:0.01"}}, "prune": {"ratio": 0.5},
            "regime": {"name": "retrain", "epochs": 2, "lr_schedule": "0:0.01"}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert cli.main(["pipeline", "--config", str(path), "--out", str(tmp_path / "out" / "p")]) == 2
    assert "base lr_schedule '0:1e-1,2:1e-2' changes the LR at epoch 2" in capsys.readouterr().err
    spec["base"]["train"]["lr_schedule"] = "0:0.1,1:0.01"
    spec["model"] = {"name": "resnet56"}
    path.write_text(yaml.safe_dump(spec))
    assert cli.main(["pipeline", "--config", str(path), "--out", str(tmp_path / "out" / "p")]) == 2
    assert "model 'resnet56' cannot take mnist1d's inputs (1x40, 10 classes)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_each_data_sets_default_augmentation_is_written_into_the_spec():
    # What `augment: true` trains with, per data set, is written out in `augmentation` (spec.json).
    expected = {"mnist1d": "shift", "cifar10": "crop-flip", "cifar100": "crop-flip", "fashion-mnist": "crop-flip",
                "mnist": "crop", "synthetic": "none"}
    for name, augmentation in expected.items():
        assert DataSpec(name=name).full_json()["augmentation"] == augmentation, name
    assert DataSpec(augment=False).augmentation == "none"
    # Derived, so not part of the id: a spec read back from its spec.json keeps its id.
    spec = DataSpec(name="cifar10")
    assert DataSpec.model_validate(spec.full_json()).spec_hash() == spec.spec_hash() == DataSpec(name="cifar10", augment=True).spec_hash()
    assert DataSpec(augment="none").spec_hash() == DataSpec(augment=False).spec_hash()  # one spelling, one id


def test_a_named_augmentation_takes_effect_and_must_fit_the_data(tmp_cache):
    m1d = DataSpec(name="mnist1d", num_samples=256)
    default = _weights_after_one_epoch(m1d, "cnn1d", True)
    assert torch.equal(_weights_after_one_epoch(m1d, "cnn1d", "shift"), default)  # mnist1d's default is the shift
    assert not torch.equal(_weights_after_one_epoch(m1d, "cnn1d", "none"), default)
    # synthetic signals are not augmented by default, but a shift can be asked for, and it is applied.
    syn = DataSpec(name="synthetic", input_shape=(1, 24), num_samples=128, augment="shift")
    assert syn.augmentation == "shift"
    assert not torch.equal(_weights_after_one_epoch(syn, "mlp", syn.augmentation),
                           _weights_after_one_epoch(syn, "mlp", True))
    with pytest.raises(ValueError, match="augment 'crop' is for image data, but 'mnist1d' is signal data"):
        DataSpec(augment="crop")
    with pytest.raises(ValueError, match="augmentation is derived from the data set and augment"):
        DataSpec.model_validate({"name": "mnist1d", "augmentation": "none"})


def test_a_wrong_augmentation_is_one_line_exit_2_and_nothing_written(tmp_path, cli_main, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"name": "mnist1d", "augment": "crop-flip"}, "train": {"epochs": 1, "lr_schedule": "0.1"}}))
    assert cli_main(["train", "--config", str(cfg), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'crop-flip' is for image data" in err
    assert not (tmp_path / "m").exists()

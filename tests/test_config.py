import json

import pytest

from prunebench.config import DataSpec, TrainRunSpec, TrainSpec, dump_yaml, load_yaml, validate
from prunebench.errors import ConfigError


def test_yaml_round_trip_keeps_the_spec_and_its_id(tmp_path):
    spec = validate(TrainRunSpec, {"model": {"name": "mlp7-relu"}, "train": {"epochs": 3, "lr_schedule": "0:0.05"}})
    path = tmp_path / "run.yaml"
    path.write_text(dump_yaml(spec))
    again = load_yaml(TrainRunSpec, path)
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()


def test_stored_spec_writes_every_default_out():
    full = TrainRunSpec().full_json()
    assert full["train"]["lr_schedule"] and full["train"]["momentum"] is not None
    assert set(full) == {"kind", "data", "model", "train"}


def test_data_dir_is_a_location_not_an_identity():
    a = TrainRunSpec(data=DataSpec(data_dir="/a"))
    b = TrainRunSpec(data=DataSpec(data_dir="/b"))
    assert a.spec_hash() == b.spec_hash()


def test_id_ignores_fields_at_their_default_so_new_defaulted_fields_keep_old_ids():
    explicit = TrainRunSpec.model_validate(json.loads(json.dumps(TrainRunSpec().full_json())))
    assert explicit.canonical() == {}
    assert explicit.spec_hash() == TrainRunSpec().spec_hash()


def test_schedules_are_normalised_before_hashing():
    a = TrainSpec(lr_schedule="0:0.1,30:0.01")
    b = TrainSpec(lr_schedule="0:1e-1, 30:1e-2")
    assert a.spec_hash() == b.spec_hash()


# Pinned ids: a refactor must not silently orphan stored results (design rule 2).
PINNED = {
    "default": ({}, "44136fa355b3"),
    "mlp7-linear": (
        {"model": {"name": "mlp7-linear"}, "train": {"epochs": 90, "lr_schedule": "0:0.01,30:0.001,60:0.0001", "batch_size": 100}},
        "a9659bd2c3e9",
    ),
    "resnet56": (
        {"data": {"name": "cifar10"}, "model": {"name": "resnet56"}, "train": {"epochs": 200, "lr_schedule": "0:0.1,100:0.01,150:0.001", "seed": 2}},
        "e4f665ba49c4",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_run_ids(name):
    fields, run_id = PINNED[name]
    assert validate(TrainRunSpec, fields).spec_hash() == run_id


def test_defaults_are_pinned_because_ids_leave_them_out():
    """A default spec's id does not see the defaults, so changing one changes what every stored
    default-valued run meant. Changing this dict is a deliberate act (and orphans those results)."""
    assert TrainRunSpec().full_json() == {
        "kind": "train",
        "data": {"augment": True, "augmentation": "shift", "data_dir": None, "image_size": None, "input_shape": None, "name": "mnist1d", "normalize": True,
                 "num_classes": None, "num_samples": None, "split_seed": 0, "val_fraction": 0.1},
        "model": {"args": {}, "channels_last": False, "name": "cnn1d"},
        "train": {"autocast": "none", "batch_size": 128, "deterministic": True, "device": "cpu", "epochs": 40,
                  "lr_schedule": "0:1e-1,20:1e-2,30:1e-3", "momentum": 0.9,
                  "nesterov": False, "optimizer": "sgd", "seed": 0, "tf32": False, "weight_decay": 0.0005},
    }


@pytest.mark.parametrize(
    "data, words",
    [
        ({"train": {"lr_scheduel": "0:0.1"}}, "unknown key 'train.lr_scheduel'"),
        ({"model": {"name": "resnet57"}}, "unknown model 'resnet57'; valid:"),
        ({"data": {"name": "imagenet22k"}}, "unknown dataset"),
        ({"train": {"batch_size": -1}}, "train.batch_size"),
        ({"train": {"lr_schedule": "0:-1"}}, "LR must be"),
        ({"train": {"epochs": "ten"}}, "train.epochs"),
        ({"train": {"device": "tpu"}}, "device must be one of"),
        ({"data": {"val_fraction": 1.0}}, "data.val_fraction"),
    ],
)
def test_bad_values_give_one_line_errors_naming_the_key(data, words):
    with pytest.raises(ConfigError) as info:
        validate(TrainRunSpec, data, "run.yaml")
    msg = str(info.value)
    assert words in msg and msg.startswith("run.yaml: ") and "\n" not in msg


def test_missing_and_malformed_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_yaml(TrainRunSpec, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_yaml(TrainRunSpec, bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_yaml(TrainRunSpec, listy)


def test_top_level_api_mirrors_the_cli():
    import prunebench

    for name in ("train_dense", "prune", "run_pipeline", "run_study", "jsv_stats", "load_model"):
        assert callable(getattr(prunebench, name))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        prunebench.nope  # noqa: B018

import json

import pytest
import torch

from prunebench.artifacts import read_model_dir, read_tensors
from prunebench.loading import load_model
from prunebench.cli import main
from prunebench.config import TrainRunSpec, validate
from prunebench.train import Callback
from prunebench.train.run import partial_dir, prepare, run_training, train_dense

SMALL = {
    "data": {"name": "synthetic", "input_shape": [1, 12], "num_classes": 3, "num_samples": 192},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16, "activation": "relu"}},
    "train": {"epochs": 4, "lr_schedule": "0:0.1,2:0.01", "batch_size": 32},
}


def spec(**train):
    fields = json.loads(json.dumps(SMALL))
    fields["train"].update(train)
    return validate(TrainRunSpec, fields)


def test_same_spec_gives_bit_identical_weights(tmp_path):
    train_dense(spec(), tmp_path / "a")
    train_dense(spec(), tmp_path / "b")
    assert (tmp_path / "a/weights.safetensors").read_bytes() == (tmp_path / "b/weights.safetensors").read_bytes()
    other = spec(seed=1)
    train_dense(other, tmp_path / "c")
    assert (tmp_path / "a/weights.safetensors").read_bytes() != (tmp_path / "c/weights.safetensors").read_bytes()


def test_model_directory_records_the_run(tmp_path):
    result = train_dense(spec(), tmp_path / "m")
    md = read_model_dir(tmp_path / "m")
    assert md.result == result
    assert result["run_id"] == spec().spec_hash() == md.spec["run_id"]
    assert result["epochs"] == 4 and result["diverged"] is False
    assert 0 <= result["test_acc"] <= 1 and 0 <= result["val_acc"] <= 1
    assert [h["epoch"] for h in md.history] == [1, 2, 3, 4]
    assert [h["lr"] for h in md.history] == [0.1, 0.1, 0.01, 0.01]  # the LR actually used, per epoch
    assert md.spec["train"]["lr_schedule"] == "0:1e-1,2:1e-2"  # written out, never implicit
    assert md.info["name"] == "mlp" and md.info["input_shape"] == [1, 12] and md.info["num_classes"] == 3
    model, _ = load_model(tmp_path / "m")
    assert set(read_tensors(tmp_path / "m/weights.safetensors")) == set(model.state_dict())
    assert not partial_dir(tmp_path / "m").exists()


class Interrupt(Callback):
    def __init__(self, after):
        self.after = after

    def on_epoch_end(self, state, record):
        if state.epoch == self.after:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_to_the_same_bits(tmp_path):
    s = spec()
    train_dense(s, tmp_path / "whole")
    data, model, device = prepare(s)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_training(model, data, s, run_id=s.spec_hash(), work=partial_dir(out), device=device,
                     extra_callbacks=[Interrupt(2)], progress=False)
    assert (partial_dir(out) / "checkpoint.safetensors").is_file()
    assert not out.exists()  # nothing half-written where the model directory goes
    seen = []

    class Count(Callback):
        def on_epoch_end(self, state, record):
            seen.append(record["epoch"])

    import prunebench.train.run as run_mod

    orig = run_mod.run_training

    def counting(*a, **k):
        k["extra_callbacks"] = [*k.get("extra_callbacks", ()), Count()]
        return orig(*a, **k)

    run_mod.run_training = counting
    try:
        result = train_dense(s, out)
    finally:
        run_mod.run_training = orig
    assert seen == [2, 3, 4]  # the interrupt came before epoch 2 was checkpointed: only 2..4 run again
    assert result["epochs"] == 4
    assert (out / "weights.safetensors").read_bytes() == (tmp_path / "whole/weights.safetensors").read_bytes()
    assert read_model_dir(out).history == read_model_dir(tmp_path / "whole").history or all(
        {k: v for k, v in a.items() if k != "time_s"} == {k: v for k, v in b.items() if k != "time_s"}
        for a, b in zip(read_model_dir(out).history, read_model_dir(tmp_path / "whole").history)
    )


def test_a_checkpoint_of_another_spec_is_not_resumed(tmp_path):
    s, t = spec(), spec(seed=5)
    data, model, device = prepare(s)
    out = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        run_training(model, data, s, run_id=s.spec_hash(), work=partial_dir(out), device=device,
                     extra_callbacks=[Interrupt(1)], progress=False)
    train_dense(t, out)
    train_dense(t, tmp_path / "fresh")
    assert (out / "weights.safetensors").read_bytes() == (tmp_path / "fresh/weights.safetensors").read_bytes()


def test_divergence_is_recorded_not_raised(tmp_path):
    result = train_dense(spec(lr_schedule="0:1e6", epochs=5), tmp_path / "d")
    assert result["diverged"] is True
    assert "diverged" in result["message"] and "epoch" in result["message"]
    assert result["epochs"] < 5


def test_cli_trains_and_prints_the_model_directory(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(SMALL))
    rc = main(["train", "--config", str(cfg), "--epochs", "3", "--out", str(tmp_path / "out"), "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs"] == 3
    assert (tmp_path / "out/weights.safetensors").is_file()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--model", "resnet57"], "unknown model 'resnet57'"),
        (["--data", "nope"], "unknown dataset 'nope'"),
        (["--lr-schedule", "0:-0.1"], "LR must be"),
        (["--lr-schedule", "0:0.1,x:1"], "not an integer"),
        (["--batch-size", "0"], "train.batch_size"),
        (["--config", "/nonexistent.yaml"], "no such file"),
        (["--device", "tpu"], "device must be one of"),
        (["--data", "cifar10", "--data-dir", "/nonexistent"], "cifar10"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    rc = main(["train", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not partial_dir(out).exists()


def test_auto_device_picks_the_cpu_without_cuda():
    from prunebench.train import resolve_device

    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        from prunebench.errors import ConfigError

        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda")


def test_a_blow_up_on_the_last_step_is_caught_by_the_outputs(tmp_path):
    # The epoch's losses are computed before each step: only the model's outputs show this blow-up.
    s = spec(lr_schedule="0:1e38", epochs=1, momentum=0.0, weight_decay=0.0, batch_size=512)  # one step
    result = train_dense(s, tmp_path / "d")
    assert result["diverged"] is True and "outputs became non-finite" in result["message"]


def test_out_refuses_a_directory_that_is_not_a_model_directory(tmp_path, capsys):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert main(["train", "--data", "synthetic", "--model", "mlp", "--epochs", "1", "--lr-schedule", "0.1",
                 "--out", str(precious)]) == 2
    assert "is not a prunebench model directory" in capsys.readouterr().err
    assert (precious / "thesis.tex").read_text() == "years of work"
    train_dense(spec(epochs=1, lr_schedule="0.1"), tmp_path / "m")
    train_dense(spec(epochs=2, lr_schedule="0.1"), tmp_path / "m")  # an earlier model directory is replaced
    assert read_model_dir(tmp_path / "m").result["epochs"] == 2


def test_zero_epochs_is_reported_not_a_crash(tmp_path, capsys):
    assert main(["train", "--data", "synthetic", "--model", "mlp", "--epochs", "0", "--out", str(tmp_path / "z")]) == 0
    assert "no epochs run" in capsys.readouterr().out


def test_a_lone_last_example_joins_the_previous_batch_so_batchnorm_trains(tmp_path):
    fields = {"data": {"name": "synthetic", "input_shape": [3, 32, 32], "num_samples": 10},
              "model": {"name": "vgg11"}, "train": {"epochs": 1, "lr_schedule": "0.1", "batch_size": 8}}
    result = train_dense(validate(TrainRunSpec, fields), tmp_path / "v")  # 9 training examples: 8 + 1
    assert result["epochs"] == 1


def test_reserved_model_args_are_config_errors():
    from prunebench.errors import ConfigError

    for key in ("seed", "num_classes", "input_shape"):
        with pytest.raises(ConfigError, match=f"'{key}' is not a model argument"):
            validate(TrainRunSpec, {"model": {"name": "mlp", "args": {key: 1}}})


def test_train_refuses_a_schedule_step_past_the_last_epoch(tmp_path, capsys):
    # The default schedule steps at epochs 20 and 30: with 5 epochs the LR would silently stay 0.1.
    out = tmp_path / "m"
    args = ["train", "--data", "synthetic", "--model", "mlp", "--epochs", "5", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "changes the LR at epoch 20" in err and "5 epochs" in err
    assert not out.exists()
    with pytest.raises(Exception, match="epoch 2, but the run has 2 epochs"):  # the library refuses too
        train_dense(spec(epochs=2), tmp_path / "lib")
    assert not (tmp_path / "lib").exists()
    assert main([*args[:-2], "--lr-schedule", "0:0.1,4:0.01", "--out", str(out)]) == 0  # epoch 4 exists

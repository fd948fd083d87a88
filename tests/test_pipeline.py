import json

import pytest
import torch

from prunebench.artifacts import read_model_dir
from prunebench.cli import main
from prunebench.config import TrainSpec, validate
from prunebench.errors import ConfigError
from prunebench.metrics.trainability import jsv_stats
from prunebench.pipeline import PipelineSpec, RegimeSpec, resolve, scratch_b_epochs, snapshot_epochs, train_base
from prunebench.pipeline.regimes import RegimeContext, stretch
from prunebench.pipeline.run import base_dir_for, run_pipeline

BASE = TrainSpec(epochs=6, lr_schedule="0:0.1,3:0.01,5:0.001", batch_size=64)


def ctx(dense=100, pruned=40):
    return RegimeContext(base_train=BASE, dense_macs=dense, pruned_macs=pruned, seed=3)


@pytest.mark.parametrize(
    "k1, f1, f2, k2, paper, liu",
    [  # hand-checked: paper = K1*F1/F2 + K2 (nearest epoch), liu = int(K1*F1/F2)
        (160, 100, 40, 40, 440, 400),
        (30, 3, 2, 10, 55, 45),
        (10, 7, 3, 5, 28, 23),  # 23.33 + 5
        (200, 1, 1, 0, 200, 200),
    ],
)
def test_scratch_b_epochs_follow_both_formulas(k1, f1, f2, k2, paper, liu):
    assert scratch_b_epochs(k1, f1, f2, k2, "paper") == paper
    assert scratch_b_epochs(k1, f1, f2, k2, "liu") == liu


def test_regimes_resolve_to_written_out_recipes():
    r = resolve(RegimeSpec(name="retrain", epochs=4, lr=0.01, final_lr=1e-4), ctx())
    assert (r.start, r.retrain.epochs, r.retrain.lr_schedule) == ("final", 4, "0:1e-2,2:1e-3,3:1e-4")
    assert r.retrain.seed == 3 and r.retrain.batch_size == 64  # optimizer settings inherited from the base recipe
    r = resolve(RegimeSpec(name="lr-rewind", epochs=3), ctx())
    assert (r.retrain.epochs, r.retrain.lr_schedule) == (3, "0:1e-2,2:1e-3")  # the base's last 3 epochs
    r = resolve(RegimeSpec(name="weight-rewind", rewind_epoch=1), ctx())
    assert (r.start, r.snapshot_epoch, r.retrain.epochs, r.retrain.lr_schedule) == ("snapshot", 1, 5, "0:1e-1,2:1e-2,4:1e-3")
    r = resolve(RegimeSpec(name="scratch-e", epochs=6), ctx())
    assert (r.start, r.retrain.epochs, r.retrain.lr_schedule) == ("fresh", 12, "0:1e-1,6:1e-2,10:1e-3")
    r = resolve(RegimeSpec(name="scratch-b", scratch_b="liu"), ctx(dense=100, pruned=40))
    assert r.retrain.epochs == 15  # int(6 * 100 / 40)
    r = resolve(RegimeSpec(name="pxfy", prune_epoch=2), ctx())
    assert (r.snapshot_epoch, r.retrain.epochs, r.retrain.lr_schedule, r.pretrain_epochs) == (2, 4, "0:1e-1,1:1e-2,3:1e-3", 2)
    r = resolve(RegimeSpec(name="pxfy", prune_epoch=2, lr=0.1), ctx())  # SX-A style: raised LR, derived by the rules
    assert r.retrain.lr_schedule == "0:1e-1,2:1e-2,3:1e-3"
    r = resolve(RegimeSpec(name="pxfy", prune_epoch=2, extend=3), ctx())  # "+k epochs" on the first stage
    assert (r.retrain.epochs, r.retrain.lr_schedule) == (7, "0:1e-1,4:1e-2,6:1e-3")
    assert snapshot_epochs(RegimeSpec(name="pxfy", prune_epoch=2)) == {2}


def test_stretch_keeps_decays_at_the_same_fractions():
    assert stretch("0:0.1,100:0.01,150:0.001", 200, 400) == "0:1e-1,200:1e-2,300:1e-3"


@pytest.mark.parametrize(
    "regime, words",
    [
        ({"name": "retrain"}, "needs epochs"),
        ({"name": "pxfy", "prune_epoch": 9}, "prune_epoch in 0..5"),
        ({"name": "lr-rewind", "epochs": 7}, "epochs in 1..6"),
        ({"name": "weight-rewind"}, "rewind_epoch"),
    ],
)
def test_regime_errors_name_the_missing_piece(regime, words):
    with pytest.raises(ConfigError, match=words):
        resolve(validate(RegimeSpec, regime), ctx())


def test_unknown_regime_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown regime 'finetune'; valid: allr, clr, fine-tune, lr-rewind, pxfy, retrain"):
        validate(RegimeSpec, {"name": "finetune"})


SMALL = {
    "data": {"name": "synthetic", "input_shape": [1, 16], "num_classes": 4, "num_samples": 256},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 24, "activation": "relu"}},
    "base": {"train": {"epochs": 6, "lr_schedule": "0:0.1,3:0.01,5:0.001", "batch_size": 64}},
    "prune": {"ratio": 0.5},
    "jsv_samples": 20,
}


def pipeline_spec(**fields):
    data = json.loads(json.dumps(SMALL))
    data.update(fields)
    return validate(PipelineSpec, data)


def run(spec, tmp_path, name="out"):
    base = base_dir_for(spec, tmp_path)
    if not (base / "result.json").is_file():
        train_base(spec.base_run(), base, snapshot_epochs(spec.regime), progress=False)
    return run_pipeline(spec, tmp_path / name, base_dir=base, progress=False)


def test_pxfy_executes_exactly_the_named_schedule(tmp_path):
    spec = pipeline_spec(regime={"name": "pxfy", "prune_epoch": 2})
    result = run(spec, tmp_path)
    md = read_model_dir(tmp_path / "out")
    assert [h["lr"] for h in md.history] == [0.1, 0.01, 0.01, 0.001]  # tail of the scratch schedule from epoch 2
    assert md.spec["resolved"]["retrain"]["lr_schedule"] == "0:1e-1,1:1e-2,3:1e-3"
    f = result["fairness"]
    assert (f["pruning_epoch"], f["prune_epochs"], f["total_epochs"]) == (2, 0, 6)  # one-shot: no pruning stage
    assert f["base"] == f"{spec.base_run().spec_hash()}@epoch-2"  # the snapshot that was pruned
    # the whole run as one LR sequence: epochs 0-1 of the base schedule, then its tail from 2
    assert f["overall_lr"] == "0:1e-1,3:1e-2,5:1e-3" == spec.base.train.lr_schedule
    assert md.plan is not None and result["params"] < result["dense_params"]
    assert result["jsv_mean_start"] > 0 and len([h for h in md.history if "jsv_mean" in h]) == 4
    assert result["ta_first_stage_epochs"] == 1


def test_pipeline_is_deterministic_and_records_trainability(tmp_path):
    spec = pipeline_spec(regime={"name": "retrain", "epochs": 4, "lr_schedule": "0:0.01,2:0.001"})
    a = run(spec, tmp_path, "a")
    b = run(spec, tmp_path, "b")
    assert (tmp_path / "a/weights.safetensors").read_bytes() == (tmp_path / "b/weights.safetensors").read_bytes()
    hist = read_model_dir(tmp_path / "a").history
    assert a["ta_train"] == pytest.approx((hist[0]["train_acc"] + hist[1]["train_acc"]) / 2)
    assert a["ta_test"] == pytest.approx((hist[0]["test_acc"] + hist[1]["test_acc"]) / 2)
    assert isinstance(a["converged_at_first_decay"], bool)
    assert a == {**b, "wall_time_s": a["wall_time_s"]}


def test_scratch_arm_trains_the_small_dense_model_from_a_fresh_init(tmp_path):
    spec = pipeline_spec(regime={"name": "scratch-b", "epochs": 0})
    result = run(spec, tmp_path)
    assert result["fairness"]["base"] == "fresh-init" and result["reinit"] == "fresh"
    assert result["epochs"] == scratch_b_epochs(6, result["dense_macs"], result["macs"], 0, "paper")


def test_unstructured_masks_stay_zero_through_retraining(tmp_path):
    spec = pipeline_spec(prune={"ratio": 0.7, "granularity": "weight", "criterion": "magnitude"},
                         regime={"name": "retrain", "epochs": 2, "lr_schedule": "0:0.05"})
    run(spec, tmp_path)
    from prunebench.loading import load_model
    from prunebench.pruning import masks_of

    model, _ = load_model(tmp_path / "out")
    masks = masks_of(model)
    assert masks is not None
    for name, mask in masks.to_tensors().items():
        weight = model.get_submodule(name.rsplit(".", 1)[0] if name.endswith(".weight") else name).weight
        assert torch.all(weight[mask == 0] == 0)


def test_a_diverging_run_ends_with_diverged_true(tmp_path):
    spec = pipeline_spec(regime={"name": "retrain", "epochs": 3, "lr_schedule": "0:1e5"})
    result = run(spec, tmp_path)
    assert result["diverged"] is True and "diverged" in result["message"]
    assert (tmp_path / "out/result.json").is_file()


def test_orthp_gives_mean_jsv_one_on_pruned_mlp7_linear():
    from prunebench.config import DataSpec
    from prunebench.data import load_data
    from prunebench.models import build_model
    from prunebench.pruning import prune
    from prunebench.pruning.reinit import apply_reinit

    data = load_data(DataSpec())
    model = build_model("mlp7-linear", data.input_shape, data.num_classes, seed=0)
    pruned = prune(model, "[0-5:0.8, 6:0]").model
    before = jsv_stats(pruned, data.train_x[:100])["mean"]
    apply_reinit("orthp", pruned, seed=0)
    after = jsv_stats(pruned, data.train_x[:100])
    assert abs(after["mean"] - 1.0) < 1e-4 and after["max"] - after["min"] < 1e-4
    assert before < 0.1  # far below 1 without OrthP


def test_mean_jsv_falls_with_the_pruning_ratio_on_trained_mlp7_linear(tmp_path):
    from prunebench.loading import load_model
    from prunebench.config import TrainRunSpec
    from prunebench.pruning import prune
    from prunebench.train.run import train_dense

    spec = validate(TrainRunSpec, {"model": {"name": "mlp7-linear"}, "train": {"epochs": 3, "lr_schedule": "0:0.01", "batch_size": 100}})
    train_dense(spec, tmp_path / "dense", progress=False)
    model, _ = load_model(tmp_path / "dense")
    from prunebench.data import load_data

    x = load_data(spec.data).train_x[:100]
    means = [jsv_stats(model, x)["mean"]]
    for p in (0.1, 0.3, 0.5, 0.7, 0.9):
        means.append(jsv_stats(prune(model, f"[0-5:{p}, 6:0]").model, x)["mean"])
    assert all(a > b for a, b in zip(means, means[1:])), means


def test_jsv_cli_matches_a_brute_force_reference(tmp_path, capsys):
    from prunebench.loading import load_model
    from prunebench.config import TrainRunSpec
    from prunebench.data import load_data
    from prunebench.pipeline.callbacks import jsv_inputs
    from prunebench.train.run import train_dense

    spec = validate(TrainRunSpec, {"model": {"name": "cnn1d"}, "train": {"epochs": 1, "lr_schedule": "0.1"}})
    train_dense(spec, tmp_path / "m", progress=False)
    assert main(["jsv", "--model-dir", str(tmp_path / "m"), "--n", "10", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    model, _ = load_model(tmp_path / "m")
    model.eval()
    x = jsv_inputs(load_data(spec.data), 10, spec.data.split_seed)
    svals = []
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda inp: model(inp.unsqueeze(0))[0], x[i])
        svals.append(torch.linalg.svdvals(jac.reshape(jac.shape[0], -1)))
    s = torch.stack(svals)
    assert got["mean"] == pytest.approx(float(s.mean()), abs=1e-5)
    assert got["max"] == pytest.approx(float(s.max()), abs=1e-5)
    assert got["min"] == pytest.approx(float(s.min()), abs=1e-5)
    assert set(got) >= {"mean", "std", "min", "max", "cond"}


def test_squeezed_pxfy_prunes_earlier_by_the_speedup(tmp_path):
    r = resolve(RegimeSpec(name="pxfy", prune_epoch=4, squeeze=True), ctx(dense=100, pruned=40))
    # x' = round(4 * 0.4) = 2; y' = 2 + 4 - 2 * 2.5 = 1; compute 2 * 100 + 1 * 40 = 240 = (4 + 2) * 40
    assert (r.snapshot_epoch, r.pretrain_epochs, r.retrain.epochs) == (2, 2, 1)
    assert r.retrain.lr_schedule == "0:1e-2,1:1e-3"  # the un-squeezed arm's retraining schedule
    r = resolve(RegimeSpec(name="pxfy", prune_epoch=4, squeeze=True), ctx(dense=100, pruned=10))
    assert (r.snapshot_epoch, r.retrain.epochs) == (0, 6)  # 4/10 rounds to 0: the retraining takes all 6
    assert snapshot_epochs(RegimeSpec(name="pxfy", prune_epoch=4, squeeze=True)) == {0, 1, 2, 3, 4}
    spec = pipeline_spec(regime={"name": "pxfy", "prune_epoch": 4, "squeeze": True})
    result = run(spec, tmp_path)
    f = result["fairness"]
    x = round(4 * result["macs"] / result["dense_macs"])
    y = round(2 + 4 - x * result["dense_macs"] / result["macs"])
    assert f["pruning_epoch"] == x and f["retrain_epochs"] == y and f["prune_epochs"] == 0
    assert f["total_compute"] == x * result["dense_macs"] + y * result["macs"]
    assert abs(f["total_compute"] - 6 * result["macs"]) <= result["macs"] / 2 + 1  # equal up to rounding


def test_orthp_on_a_masked_model_keeps_the_masked_weights_at_zero(tmp_path):
    # 0 retraining epochs: no optimizer step re-applies the masks, so this sees the re-init itself
    spec = pipeline_spec(prune={"ratio": 0.6, "granularity": "weight", "criterion": "magnitude"}, reinit="orthp",
                         regime={"name": "retrain", "epochs": 0, "lr_schedule": "0:0.01"})
    result = run(spec, tmp_path)
    from prunebench.loading import load_model
    from prunebench.pruning import masks_of

    model, _ = load_model(tmp_path / "out")
    for name, mask in masks_of(model).to_tensors().items():
        assert torch.all(model.get_submodule(name.removesuffix(".weight")).weight[mask == 0] == 0)
    # the JSV right after pruning was measured on the masked, re-initialised model (= the saved one)
    from prunebench.data import load_data
    from prunebench.pipeline.callbacks import jsv_inputs

    x = jsv_inputs(load_data(spec.data), spec.jsv_samples, spec.data.split_seed)
    assert result["jsv_mean_start"] == pytest.approx(jsv_stats(model, x)["mean"], rel=1e-6)

"""Each method's defining behaviour on a hand-checkable case (facts: ../shared/methods-notes.md)."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from prunebench.config import validate
from prunebench.data import load_data
from prunebench.config import DataSpec, TrainSpec
from prunebench.pipeline import PipelineSpec, train_base
from prunebench.pipeline.run import base_dir_for, run_pipeline
from prunebench.pruning import ratios
from prunebench.pruning.criteria import CRITERIA, ScoreInput
from prunebench.pruning.methods import agp, greg, imp, slimming, tpp
from prunebench.pruning.methods.base import StageContext, get_method
from prunebench.pruning.spec import PruneSpec
from prunebench.train.loop import Callback, train

CNN = {"name": "cnn1d", "args": {"channels": [8, 8], "kernel_sizes": [3, 3], "strides": [1, 2]}}
SMALL = {
    "data": {"name": "synthetic", "input_shape": [1, 16], "num_classes": 4, "num_samples": 256},
    "model": CNN,
    "base": {"train": {"epochs": 4, "lr_schedule": "0:0.1,2:0.01", "batch_size": 64}},
    "prune": {"ratio": 0.5},
    "regime": {"name": "retrain", "epochs": 1, "lr_schedule": "0:0.01"},
    "jsv_samples": 0,
}


def spec_of(method, args, **fields):
    data = json.loads(json.dumps(SMALL))
    data.update(fields)
    data["method"] = {"name": method, "args": args}
    if method == "slimming":  # its score is |gamma|
        data["prune"] = {**data["prune"], "criterion": "bn-scale"}
    return validate(PipelineSpec, data)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("methods")


def run(spec, root, name):
    base = base_dir_for(spec, root)
    if not (base / "result.json").is_file():
        train_base(spec.base_run(), base, {0, 1, 2, 3}, progress=False)
    return run_pipeline(spec, root / name, base_dir=base, progress=False)


# -- network slimming ---------------------------------------------------------------------------
def test_slimming_global_threshold_removes_the_smallest_gammas_across_layers():
    # N = 8 scales, percent 0.5: thre = sorted[4] = 0.5, every |gamma| <= 0.5 goes (reference rule)
    gammas = {"a": torch.tensor([0.5, -0.1, 0.9, 0.3]), "b": torch.tensor([0.2, 0.05, -0.7, 0.6])}
    assert slimming.global_threshold(gammas, 0.5) == {"a": [0, 1, 3], "b": [0, 1]}
    # a layer is never emptied: its largest scale stays
    assert slimming.global_threshold({"a": torch.tensor([0.1, 0.2]), "b": torch.tensor([0.9, 0.8])}, 0.5) == {"a": [0], "b": [1]}


def test_slimming_adds_the_l1_subgradient_to_bn_scales_only():
    model = nn.Sequential(nn.Conv1d(1, 3, 3), nn.BatchNorm1d(3))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.5, -0.2, 0.0]))
    hooks = slimming.SlimmingHooks(model, 0.01, (1, 8))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    hooks.on_after_backward(None)
    assert torch.equal(model[1].weight.grad, torch.tensor([0.01, -0.01, 0.0]))
    assert not model[1].bias.grad.any() and not model[0].weight.grad.any()


def test_slimming_run_cuts_where_the_threshold_says(root):
    spec = spec_of("slimming", {"epochs": 1, "s": 1e-3})
    r = run(spec, root, "slim")
    plan = json.loads((root / "slim" / "plan.json").read_text())
    from safetensors.torch import load_file

    assert plan["method"]["name"] == "slimming" and plan["method"]["args"]["s"] == 1e-3
    # the removed channels are those at or below the global threshold of the stage's final gammas
    removed = {e["name"]: sorted(set(range(e["width"])) - set(e["kept"])) for e in plan["layers"]}
    assert sum(len(v) for v in removed.values()) == int(16 * 0.5) + 1
    assert r["stage"]["epochs"] == 1 and r["fairness"]["prune_epochs"] == 1
    assert load_file(str(root / "slim" / "weights.safetensors"))["conv1.weight"].shape[0] == 8 - len(removed.get("conv1", []))


# -- GReg-1 and GReg-2 --------------------------------------------------------------------------
def test_greg1_strength_at_given_iterations_matches_the_reference_defaults():
    # updates at t % K_u == 0 from t = 0, +delta each (float32, as the reference's reg tensor),
    # until lambda first exceeds the ceiling
    s = lambda t: greg.greg1_strength(t, 1e-4, 10, 1.0)  # noqa: E731
    assert s(0) == s(9) == float(np.float32(1e-4)) and s(10) == float(np.float32(np.float32(1e-4) + np.float32(1e-4)))
    # float32 accumulation passes 1.0 at the 10,000th addition (exact arithmetic: the 10,001st)
    assert greg.first_above(1e-4, 1.0) == 10_000 and s(99_990) > 1.0 > s(99_989)
    assert s(10**7) == s(99_990)  # held after the ceiling
    assert greg.greg1_ramp_iterations(1e-4, 10, 1.0) == 9_999 * 10 + 1


def test_greg2_picks_then_grows_pruned_and_sets_kept_to_recover():
    a = greg.GReg2Args(interval=2, pick_delta=0.125, pick_ceiling=0.5, delta=0.25, ceiling=1.0, recover=-0.5)
    table = {t: greg.greg2_strength(t, a) for t in (0, 1, 2, 6, 7, 8, 10, 12, 14, 40)}
    assert table[0] == table[1] == (0.125, None) and table[2] == (0.25, None)
    assert table[6] == table[7] == (0.5, None)  # the 4th update reaches pick_ceiling: pick here
    assert greg.greg2_pick_iteration(a) == 6
    assert table[8] == (0.75, -0.5) and table[10] == (1.0, -0.5) and table[12] == (1.25, -0.5) and table[40] == (1.25, -0.5)
    # reference defaults in float32: 1,001 picking updates reach 1e-2, then 9,900 more pass 1.0
    d = greg.GReg2Args(interval=10)
    assert greg.first_above(1e-5, 1e-2, strict=False) == 1001
    assert greg.greg2_ramp_iterations(d) == (1001 + 9900 - 1) * 10 + 1


def _greg_model():
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(24, 2))


def test_greg_stops_when_the_magnitude_ratio_reaches_its_limit():
    ctx = StageContext(prune=PruneSpec(ratio=0.5), seed=0, steps_per_epoch=1, input_shape=(1, 8))
    for limit, expected in ((1000.0, [1, 1, 1]), (None, [1, 2, 3])):
        model = _greg_model()
        with torch.no_grad():  # kept filters |w| = 1, pruned 1e-4: ratio 1e4 >= 1000 at the first update
            model[0].weight.fill_(1.0)
            model[0].weight[[1, 3]] = 1e-4
        args = greg.GRegArgs(delta=0.25, interval=1, ceiling=1.0, mag_ratio_limit=limit)
        hooks = greg.GRegHooks(get_method("greg-1"), args, model, ctx)
        hooks.pruned = {"0": [1, 3]}
        counts = []
        for t in range(3):
            hooks.on_after_backward(_State(model, t))
            counts.append(hooks.layer["0"]["n"])
        assert counts == expected
        assert hooks.layer["0"]["hist"] == pytest.approx(1e4, rel=1e-3)


class _State:
    def __init__(self, model, step):
        self.model, self.step, self.carry = model, step, {}


def test_greg_penalty_is_lambda_w_on_the_pruned_rows_of_the_gradient():
    model = _greg_model()
    ctx = StageContext(prune=PruneSpec(ratio=0.5), seed=0, steps_per_epoch=1, input_shape=(1, 8))
    args = greg.GRegArgs(delta=0.25, interval=1, ceiling=1.0, mag_ratio_limit=None)
    hooks = greg.GRegHooks(get_method("greg-1"), args, model, ctx)
    hooks.pruned = {"0": [1, 3]}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    for t in range(3):  # lambda after the updates at t = 0, 1, 2: 0.75
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        hooks.on_after_backward(_State(model, t))
    w = model[0].weight.detach()
    assert torch.equal(model[0].weight.grad[[1, 3]], 0.75 * w[[1, 3]])
    assert not model[0].weight.grad[[0, 2]].any() and not model[0].bias.grad.any() and not model[1].weight.grad.any()


def test_greg_runs_record_the_strength_per_epoch_and_cut_the_chosen_filters(root):
    r = run(spec_of("greg-1", {"epochs": 2, "delta": 0.25, "interval": 1, "mag_ratio_limit": None}), root, "greg")
    # 4 steps an epoch: lambda 1.0 after epoch 1's last update (t = 3), 1.25 (above 1.0, held) after epoch 2
    assert [h["reg"] for h in r["stage"]["history"]] == [1.0, 1.25]
    r2 = run(spec_of("greg-2", {"epochs": 2, "delta": 0.25, "interval": 1, "pick_delta": 0.25, "pick_ceiling": 0.5}), root, "greg2")
    assert r2["stage"]["history"][-1]["reg"] == 1.25 and r2["fairness"]["prune_epochs"] == 2


def test_greg_stage_shorter_than_its_ramp_is_refused(root):
    from prunebench.errors import ConfigError

    spec = spec_of("greg-1", {"epochs": 1})  # 100,001 iterations needed, 4 there
    with pytest.raises(ConfigError, match="ramp needs 99991 iterations"):
        run(spec, root, "greg-short")
    assert not (root / "greg-short").exists()


# -- TPP ----------------------------------------------------------------------------------------
def test_tpp_strength_and_gram_penalty():
    a = tpp.TPPArgs()
    assert tpp.tpp_strength(0, a) == 0 and tpp.tpp_strength(19, a) == pytest.approx(1e-4)
    assert tpp.tpp_ramp_end(a) == 10_000 * 10  # lambda reaches 1.0 exactly at t = 10,000 K_u (notes C.2)
    assert tpp.tpp_strength(10**6, a) == pytest.approx(1.0)
    # G of [[1,0],[0,1],[1,1]] with filter 2 pruned: off-target entries 1,1,1,1 and 2 -> (4 + 4) / 9
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert float(tpp.gram_penalty(w, torch.tensor([1.0, 1.0, 0.0]))) == pytest.approx(8 / 9)


def test_tpp_run_zeroes_the_chosen_filters_and_cuts_them(root):
    spec = spec_of("tpp", {"epochs": 3, "delta": 0.25, "interval": 1, "zero_out_interval": 1})
    r = run(spec, root, "tpp")
    assert [h["reg"] for h in r["stage"]["history"]][-1] == 1.0
    assert r["stage"]["history"][-1]["sparsity"] > 0  # staged zeroing happened before the cut


# -- AGP ----------------------------------------------------------------------------------------
def test_agp_cubic_target_at_each_update():
    a = agp.AGPArgs(epochs=4)
    assert [agp.agp_target(e, 0.5, a) for e in range(5)] == [0.0, 0.2890625, 0.4375, 0.4921875, 0.5]
    b = agp.AGPArgs(epochs=6, start_epoch=1, end_epoch=5, frequency=2, initial_sparsity=0.1)
    got = [agp.agp_target(e, 0.5, b) for e in range(7)]
    assert [g is None for g in got] == [True, False, True, False, True, False, True]
    assert [got[1], got[3], got[5]] == pytest.approx([0.1, 0.5 - 0.4 * 0.125, 0.5])


@pytest.mark.parametrize("granularity", ["filter", "weight"])
def test_agp_run_achieves_the_formula_at_every_update(root, granularity):
    prune = {"ratio": 0.5} if granularity == "filter" else {"ratio": 0.5, "granularity": "weight", "criterion": "magnitude"}
    spec = spec_of("agp", {"epochs": 4}, prune=prune)
    r = run(spec, root, f"agp-{granularity}")
    sizes = [8, 8] if granularity == "filter" else [24, 192]  # conv1, conv2 (filters, or weights)
    updates = r["stage"]["updates"]
    assert [u["epoch"] for u in updates] == [0, 1, 2, 3, 4]
    for u in updates:
        target = 0.5 + (0 - 0.5) * (1 - u["epoch"] / 4) ** 3
        assert u["target"] == pytest.approx(target)
        assert u["achieved"] == sum(ratios.n_removed(target, n) for n in sizes) / sum(sizes)
    macs = [h["macs"] for h in r["stage"]["history"]]
    assert macs == sorted(macs, reverse=True) and macs[0] > macs[-1]  # compute falls with the schedule


# -- IMP ----------------------------------------------------------------------------------------
def _bundle():
    return load_data(DataSpec(name="synthetic", input_shape=(1, 16), num_classes=4, num_samples=128))


class Probe(Callback):
    """Copies the weights after the method's epoch-end work (a round has just begun)."""

    def __init__(self):
        self.after = []

    def on_epoch_end(self, state, record):
        self.after.append({k: v.detach().clone() for k, v in state.model.state_dict().items()})


@pytest.mark.parametrize("rewind", ["weight", "lr"])
def test_imp_round_k_keeps_its_share_and_rewinds(rewind):
    from prunebench.models import build_model

    data = _bundle()
    model = build_model("cnn1d", (1, 16), 4, seed=1, **CNN["args"])
    snap = {k: v.detach().clone() + 0.5 for k, v in build_model("cnn1d", (1, 16), 4, seed=2, **CNN["args"]).state_dict().items()
            if v.is_floating_point()} | {k: v for k, v in model.state_dict().items() if not v.is_floating_point()}
    spec = PruneSpec(ratio=0.75, granularity="weight", criterion="magnitude")
    ctx = StageContext(prune=spec, seed=0, steps_per_epoch=2, input_shape=(1, 16), snapshot=lambda e: snap, notes={})
    args = imp.IMPArgs(rounds=2, epochs=1, lr_schedule="0:0.01", rewind=rewind, rewind_epoch=1)
    hooks = imp.IMPHooks(args, ctx, 1)
    probe = Probe()
    train(model, data, TrainSpec(epochs=2, lr_schedule="0:0.01", batch_size=64), callbacks=[hooks, probe])
    # p = 1 - 0.25^(1/2) = 0.5: round 1 keeps 1/2, round 2 keeps 1/4 (24 and 192 weights per layer)
    assert [r["kept"] for r in hooks.rounds] == [0.5, 0.25]
    after_round1, start_round2 = probe.after[0], probe.after[0]
    removed = hooks.masks.removed
    for name in ("conv1", "conv2"):
        w = start_round2[f"{name}.weight"].flatten()
        keep = torch.ones_like(w, dtype=torch.bool)
        keep[removed[name]] = False
        assert not w[~keep].any()
        if rewind == "weight":  # survivors are the recorded epoch's weights again
            assert torch.equal(w[keep], snap[f"{name}.weight"].flatten()[keep])
        else:  # LR rewinding keeps the trained weights
            assert not torch.equal(w[keep], snap[f"{name}.weight"].flatten()[keep])
    assert after_round1 is start_round2


def test_imp_stage_schedule_repeats_the_base_tail():
    base = TrainSpec(epochs=4, lr_schedule="0:0.1,2:0.01")
    m = get_method("imp")
    epochs, schedule = m.stage_schedule(imp.IMPArgs(rounds=2, rewind="weight", rewind_epoch=1), base)
    assert epochs == 6 and TrainSpec(epochs=6, lr_schedule=schedule).lrs() == [0.1, 0.01, 0.01] * 2


# -- SFP ----------------------------------------------------------------------------------------
class RegrowProbe(Callback):
    def __init__(self, hooks):
        self.hooks, self.zeroed, self.regrown, self.first_step = hooks, None, [], False

    def on_epoch_end(self, state, record):
        self.zeroed = {n: list(v) for n, v in self.hooks.zeroed.items()}
        self.first_step = True

    def on_step_end(self, state):
        if self.first_step and self.zeroed:
            w = state.model.get_submodule("conv1").weight
            self.regrown.append(bool(w[self.zeroed["conv1"]].abs().sum(dim=(1, 2)).gt(0).all()))
            self.first_step = False


def test_sfp_zeroed_filters_regrow_in_the_next_epoch_and_are_removed_at_the_end(root):
    from prunebench.models import build_model
    from prunebench.pruning.methods import sfp

    data = _bundle()
    model = build_model("cnn1d", (1, 16), 4, seed=1, **CNN["args"])
    with torch.no_grad():  # a zeroed filter's channel is beta after its BN: with beta = 0 the ReLU
        for bn in (model.bn1, model.bn2):  # gives it no gradient (a trained base's beta is rarely 0)
            bn.bias.fill_(0.1)
    ctx = StageContext(prune=PruneSpec(ratio=0.5, criterion="l2"), seed=0, steps_per_epoch=2, input_shape=(1, 16))
    hooks = sfp.SFPHooks(ctx, model)
    probe = RegrowProbe(hooks)
    train(model, data, TrainSpec(epochs=3, lr_schedule="0:0.05", batch_size=64), callbacks=[hooks, probe])
    assert probe.regrown == [True, True]  # after epochs 1 and 2 the zeroed filters moved again
    r = run(spec_of("sfp", {"epochs": 2}, prune={"ratio": 0.5, "criterion": "l2"}), root, "sfp")
    from safetensors.torch import load_file

    w = load_file(str(root / "sfp" / "weights.safetensors"))
    assert w["conv1.weight"].shape[0] == 4 and w["conv2.weight"].shape[0] == 4  # physically pruned
    assert r["fairness"]["prune_epochs"] == 2


# -- FPGM and HRank -----------------------------------------------------------------------------
def test_fpgm_scores_sum_of_distances():
    w = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]).view(4, 2, 1)
    s = CRITERIA.get("geometric-median")().score(ScoreInput(name="x", weight=w, seed=0))
    r2, r13, r18 = 2**0.5, 13**0.5, 18**0.5
    assert torch.allclose(s, torch.tensor([2 + r18, 1 + r2 + r13, 1 + r2 + r13, r18 + 2 * r13], dtype=torch.float64))


def test_hrank_scores_mean_feature_map_rank():
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 0.0]).view(2, 1, 1, 1))
    model = nn.Sequential(conv)
    x = torch.stack([torch.eye(3)[[0, 1, 1]], torch.eye(3)]).unsqueeze(1)  # ranks 2 and 3
    s = CRITERIA.get("hrank")().score(ScoreInput(name="0", weight=conv.weight, seed=0, module=conv, model=model,
                                                 batches=[(x, torch.zeros(2, dtype=torch.long))]))
    assert s.tolist() == [2.5, 0.0]


# -- accounting ---------------------------------------------------------------------------------
def test_fairness_columns_count_the_pruning_stage_at_the_macs_it_ran(root):
    one = run(spec_of("one-shot", {}), root, "acct-one")
    ag = run(spec_of("agp", {"epochs": 3}), root, "acct-agp")
    f1, fa = one["fairness"], ag["fairness"]
    dense, macs = ag["dense_macs"], ag["macs"]
    stage_macs = [h["macs"] for h in ag["stage"]["history"]]
    assert stage_macs[0] == dense and stage_macs[1] < dense  # the first update (epoch 0) removes nothing
    assert (f1["prune_epochs"], f1["prune_lr"], f1["total_epochs"]) == (0, None, 4 + 1)
    assert f1["total_compute"] == 4 * one["dense_macs"] + 1 * one["macs"]
    assert (fa["prune_epochs"], fa["prune_lr"], fa["total_epochs"]) == (3, "0:1e-2", 4 + 3 + 1)
    assert fa["total_compute"] == 4 * dense + sum(stage_macs) + 1 * macs
    assert fa["pruning_epoch"] == 4  # the base's epochs: the stage is not the base's
    assert fa["overall_lr"] == "0:1e-1,2:1e-2"  # base 0.1, 0.01 / stage 0.01 x3 / retrain 0.01


def test_scratch_b_counts_the_pruning_stage_in_its_budget(root):
    plain = run(spec_of("one-shot", {}, regime={"name": "scratch-b", "epochs": 1}), root, "sb-one")
    slim = run(spec_of("slimming", {"epochs": 2}, regime={"name": "scratch-b", "epochs": 1}), root, "sb-slim")
    from prunebench.pipeline.regimes.builtin import scratch_b_epochs

    # the stage is 2 dense epochs: K1 becomes 4 + 2
    assert slim["epochs"] == scratch_b_epochs(6, slim["dense_macs"], slim["macs"], 1, "paper")
    assert plain["epochs"] == scratch_b_epochs(4, plain["dense_macs"], plain["macs"], 1, "paper")
    assert slim["fairness"]["prune_epochs"] == 0 and slim["fairness"]["base"] == "fresh-init"


def test_imp_weight_rewinding_pipeline_keeps_the_base_snapshot_it_needs(tmp_path):
    from prunebench.pipeline import prepare_base

    spec = spec_of("imp", {"rounds": 2, "rewind": "weight", "rewind_epoch": 1},
                   prune={"ratio": 0.75, "granularity": "weight", "criterion": "magnitude"})
    base = prepare_base(spec, tmp_path)  # trains the base with the snapshot the method rewinds to
    assert (base / "snapshots" / "epoch-1.safetensors").is_file()
    r = run_pipeline(spec, tmp_path / "imp", base_dir=base, progress=False)
    # rounds of base epochs - 1 = 3 epochs on the base schedule's tail from epoch 1, twice
    assert r["fairness"]["prune_epochs"] == 6 and r["fairness"]["prune_lr"] == "0:1e-1,1:1e-2,3:1e-1,4:1e-2"
    assert [x["kept"] for x in r["stage"]["rounds"]] == [0.5, 0.25]


def test_stage_tracks_mean_jsv_when_asked(root):
    r = run(spec_of("slimming", {"epochs": 1, "track_jsv": True}, jsv_samples=8), root, "slim-jsv")
    assert r["stage"]["history"][0]["jsv_mean"] > 0
    plain = run(spec_of("slimming", {"epochs": 1}, jsv_samples=8), root, "slim-nojsv")
    assert "jsv_mean" not in plain["stage"]["history"][0]


def test_cli_methods_lists_every_method_with_its_parameters(capsys):
    from prunebench.cli import main
    from prunebench.registry import METHODS

    assert main(["methods", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(METHODS.names())
    greg1 = {p["name"]: p["default"] for p in rows["greg-1"]["parameters"]}
    assert greg1["delta"] == 1e-4 and greg1["interval"] == 10 and greg1["epochs"] == 4 and greg1["lr_schedule"] == "0:1e-3"
    assert rows["one-shot"]["stage"] is False and rows["one-shot"]["parameters"] == []
    assert main(["methods"]) == 0 and "slimming" in capsys.readouterr().out


def test_the_stage_trains_with_the_base_recipes_precision_settings():
    # Like the retraining (regimes.recipe): a base trained in bf16 autocast with TF32, not
    # deterministic, gets a stage that does the same; the default base, the defaults.
    from prunebench.config import TrainSpec
    from prunebench.pipeline.stage import stage_recipe

    spec = spec_of("sfp", {"epochs": 2})
    base = TrainSpec(epochs=4, lr_schedule="0:0.1", deterministic=False, tf32=True, autocast="bf16")
    stage = stage_recipe(spec, base)
    assert (stage.deterministic, stage.tf32, stage.autocast) == (False, True, "bf16")
    default = stage_recipe(spec, TrainSpec(epochs=4, lr_schedule="0:0.1"))
    assert (default.deterministic, default.tf32, default.autocast) == (True, False, "none")

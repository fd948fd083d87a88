"""Tests that fail when the behaviour they are named for breaks (issue 11). ``bench/mutation_check.py``
applies each of the breaks named here to a copy of the code and checks that this suite notices."""
import copy

import pytest
import torch

from small_pipeline import run_with_base as run, spec_of


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# [report the best test epoch instead]
def test_reported_accuracy_is_the_final_epochs_never_the_best():
    from prunebench.train.loop import TrainOutcome
    from prunebench.train.run import summarize

    history = [{"test_acc": 0.5, "val_acc": 0.4, "train_acc": 0.6}, {"test_acc": 0.9, "val_acc": 0.8, "train_acc": 0.7},
               {"test_acc": 0.7, "val_acc": 0.6, "train_acc": 0.8}]
    out = summarize(TrainOutcome(history, {}, False, None, 3), "r", 1.0)
    assert (out["test_acc"], out["val_acc"], out["train_acc"]) == (0.7, 0.6, 0.8)


# [skip the reset to the epoch-k weights]
def test_weight_rewinding_starts_from_the_kept_weights_of_epoch_k(tmp_path):
    from prunebench.artifacts import load_weights
    from prunebench.loading import load_model
    from prunebench.pruning import apply_filter_plan

    spec = spec_of(regime={"name": "weight-rewind", "rewind_epoch": 2, "epochs": 0})  # no step: the start itself
    base, _ = run(spec, tmp_path, "wr")
    got, md = load_model(tmp_path / "wr")
    dense, _ = load_model(base)
    final_pruned = apply_filter_plan(dense, md.plan, check=False)
    snap = copy.deepcopy(dense)
    load_weights(base / "snapshots" / "epoch-2.safetensors", snap)
    rewound = apply_filter_plan(snap, md.plan, check=False)
    assert all(torch.equal(v, state(rewound)[k]) for k, v in state(got).items())
    assert not all(torch.equal(v, state(final_pruned)[k]) for k, v in state(got).items())


# [inherit the pruned weights instead of a fresh init; wrong widths]
def test_scratch_arm_is_the_small_dense_model_freshly_initialised(tmp_path):
    from prunebench.data import load_data
    from prunebench.loading import load_model
    from prunebench.metrics.trainability import jsv_stats
    from prunebench.pipeline.callbacks import jsv_inputs
    from prunebench.pruning import apply_filter_plan
    from prunebench.pruning.reinit import apply_reinit
    from prunebench.rng import derive_seed

    spec = spec_of(regime={"name": "scratch-e"})
    base, result = run(spec, tmp_path, "scratch")
    got, md = load_model(tmp_path / "scratch")
    dense, _ = load_model(base)
    pruned = apply_filter_plan(dense, md.plan, check=False)
    widths = [m.out_features for m in got.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [m.out_features for m in pruned.modules() if isinstance(m, torch.nn.Linear)] == [12, 12, 4]
    assert result["params"] == sum(p.numel() for p in got.parameters()) < result["dense_params"]
    # the JSV measured before the first epoch is that of a fresh init of the pruned architecture
    fresh = apply_reinit("fresh", copy.deepcopy(pruned), seed=derive_seed(spec.seed, "reinit"))
    x = jsv_inputs(load_data(spec.data), spec.jsv_samples, spec.data.split_seed)
    assert result["jsv_mean_start"] == pytest.approx(jsv_stats(fresh, x)["mean"], rel=1e-6)
    assert result["jsv_mean_start"] != pytest.approx(jsv_stats(pruned, x)["mean"], rel=1e-3)


# [no test at all]
def test_l2_scores_by_hand():
    from prunebench.pruning.criteria import CRITERIA, ScoreInput

    w = torch.tensor([[3.0, 4.0], [1.0, -1.0], [0.0, -2.0]])  # norms 5, sqrt 2, 2
    score = CRITERIA.get("l2")().score(ScoreInput("l", w, 0))
    assert score.tolist() == pytest.approx([5.0, 2 ** 0.5, 2.0])
    l1 = CRITERIA.get("l1")().score(ScoreInput("l", w, 0))
    assert l1.tolist() == [7.0, 2.0, 2.0]  # L1 ties filters 1 and 2, L2 does not


def test_l2_pruning_removes_the_smallest_norm_filters():
    from prunebench.models import build_model
    from prunebench.pruning import prune

    model = build_model("mlp", (1, 2), 2, seed=0, depth=2, width=3, activation="relu")
    with torch.no_grad():  # L1: 7, 5, 4.2; L2: 5, 3.54, 4.2
        model.layers[0].weight.copy_(torch.tensor([[3.0, 4.0], [2.5, 2.5], [0.0, 4.2]]))
    kept = {c: prune(model, {"ratio": "0:0.33", "criterion": c}).plan["layers"][0]["kept"] for c in ("l1", "l2")}
    assert kept == {"l2": [0, 2], "l1": [0, 1]}

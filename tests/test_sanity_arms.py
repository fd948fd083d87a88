"""Sanity-check arms (issue 13, item 5): random units at the criterion's own per-layer counts, layerwise
shuffled masks, inverted scores, re-init on the mask; their derivation in a study and the report's
section on them."""
from __future__ import annotations

import copy

import pytest
import torch
import yaml

from prunebench.errors import ConfigError, PrunebenchError
from prunebench.models import build_model
from prunebench.pruning import PruneSpec, prune
from prunebench.pruning.api import compute_masks
from prunebench.report.paired import paired_test
from prunebench.report.sanity import sanity_lines
from prunebench.study import expand, load_study


def mlp():
    return build_model("mlp", (1, 16), 4, seed=0, depth=3, width=16, activation="relu")


def kept(result):
    return {e["name"]: e["kept"] for e in result.plan["layers"]}


def test_same_ratios_random_keeps_the_criterions_widths_with_other_filters():
    model, spec = mlp(), {"ratio": "0:0.5,1:0.25", "criterion": "l1"}
    l1 = prune(model, PruneSpec(**spec), seed=7)
    rand = prune(model, PruneSpec(**spec, sanity="same-ratios-random"), seed=7)
    assert rand.report["widths"] == l1.report["widths"]
    assert {n: len(k) for n, k in kept(rand).items()} == {n: len(k) for n, k in kept(l1).items()}
    assert kept(rand) != kept(l1)  # 8 of 16 filters at random: the L1 choice has odds 1/12870
    again = prune(model, PruneSpec(**spec, sanity="same-ratios-random"), seed=7)
    assert kept(again) == kept(rand)  # the same seed draws the same filters
    assert kept(prune(model, PruneSpec(**spec, sanity="same-ratios-random"), seed=8)) != kept(rand)


def _counts(result):
    return {n: int(m.sum()) for n, m in result.masks.masks.items()}


def test_same_ratios_random_weights_keep_each_layers_density_under_a_global_ranking():
    model = mlp()
    with torch.no_grad():  # layers of very different scale: the global ranking gives them different densities
        model.get_submodule(next(n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear))).weight.mul_(10)
    spec = {"ratio": 0.6, "criterion": "magnitude", "granularity": "weight", "scope": "global"}
    mag = prune(model, PruneSpec(**spec), seed=1)
    rand = prune(model, PruneSpec(**spec, sanity="same-ratios-random"), seed=1)
    assert _counts(rand) == _counts(mag) and len(set(_counts(mag).values())) > 1
    assert any(not torch.equal(rand.masks.masks[n], mag.masks.masks[n]) for n in mag.masks.masks)
    replayed = compute_masks(model, rand.plan)  # the plan's spec carries the sanity: replay gives the same masks
    assert all(torch.equal(replayed.masks[n], rand.masks.masks[n]) for n in rand.masks.masks)


def test_shuffled_masks_keep_each_layers_density():
    model, spec = mlp(), {"ratio": 0.5, "criterion": "magnitude", "granularity": "weight"}
    mag = prune(model, PruneSpec(**spec), seed=2)
    shuf = prune(model, PruneSpec(**spec, sanity="shuffled-mask"), seed=2)
    assert _counts(shuf) == _counts(mag)
    assert all(shuf.masks.masks[n].shape == mag.masks.masks[n].shape for n in mag.masks.masks)
    assert any(not torch.equal(shuf.masks.masks[n], mag.masks.masks[n]) for n in mag.masks.masks)
    with pytest.raises(PrunebenchError, match="needs granularity 'weight'"):
        PruneSpec(ratio=0.5, sanity="shuffled-mask")


def test_inversion_removes_the_top_scored_filters():
    model = mlp()
    result = prune(model, PruneSpec(ratio=0.25, criterion="l1", sanity="inverted"), seed=0)
    for entry in result.plan["layers"]:
        w = model.get_submodule(entry["name"]).weight.detach()
        l1 = w.abs().reshape(w.shape[0], -1).sum(1)
        top = set(torch.argsort(l1, descending=True)[: entry["removed"]].tolist())  # by hand: the largest L1 norms
        assert set(range(entry["width"])) - set(entry["kept"]) == top


def test_inversion_removes_the_largest_weights():
    model = mlp()
    result = prune(model, PruneSpec(ratio=0.25, criterion="magnitude", granularity="weight", sanity="inverted"), seed=0)
    for name, mask in result.masks.masks.items():
        w = model.get_submodule(name).weight.detach().abs()
        assert w[~mask].min() >= w[mask].max()  # every removed weight is at least as large as every kept one


STUDY = {
    "name": "sanity",
    "data": {"name": "synthetic", "input_shape": [16], "num_classes": 4, "num_samples": 128},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16}},
    "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
    "arms": [{"name": "l1", "criterion": "l1", "regime": "lr-rewind", "retrain": {"epochs": 1}},
             {"name": "l1-random", "sanity": "same-ratios-random", "of": "l1"},
             {"name": "l1-inverted", "sanity": "inverted", "of": "l1"},
             {"name": "l1-reinit", "sanity": "reinit-on-mask", "of": "l1"}],
    "ratios": [0.5],
    "seeds": [0, 1],
    "reference": "l1",
    "jsv_samples": 8,
}


def write(tmp_path, study):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_a_sanity_arm_shares_the_checked_arms_base_and_retraining(tmp_path):
    exp = expand(load_study(write(tmp_path, STUDY)), tmp_path / "study.yaml")
    by = {(j.arm, j.seed): j for j in exp.runs}
    for seed in (0, 1):
        l1 = by[("l1", seed)]
        for arm, prune_sanity, reinit in (("l1-random", "same-ratios-random", "keep"), ("l1-inverted", "inverted", "keep"),
                                           ("l1-reinit", None, "fresh")):
            job = by[(arm, seed)]
            assert job.base_id == l1.base_id and job.spec["regime"] == l1.spec["regime"]
            assert job.spec["prune"]["sanity"] == prune_sanity and job.spec["reinit"] == reinit
            assert job.spec["prune"]["criterion"] == "l1" and job.meta["of"] == "l1"
    assert len(exp.bases) == 2  # one base per seed, shared by all four arms
    again = expand(load_study(write(tmp_path, yaml.safe_load(yaml.safe_dump(exp.study.model_dump(mode="json"))))), None)
    assert [j.run_id for j in again.runs] == [j.run_id for j in exp.runs]  # the stored study reads back


GREG = {"name": "greg", "criterion": "l1", "method": {"name": "greg-1", "args": {"epochs": 2, "delta": 0.5, "interval": 1}},
        "regime": "lr-rewind",
        "retrain": {"epochs": 1}}


@pytest.mark.parametrize("kind", ["same-ratios-random", "inverted"])
def test_a_sanity_arm_of_a_method_with_a_pruning_stage_is_refused(tmp_path, kind):
    # The method's choice comes from its stage, not from criterion scores: a one-shot sanity arm
    # would silently check plain L1 instead.
    study = copy.deepcopy(STUDY)
    study["arms"] = [study["arms"][0], GREG, {"name": "greg-check", "sanity": kind, "of": "greg"}]
    with pytest.raises(ConfigError, match="prunes with method 'greg-1'"):
        expand(load_study(write(tmp_path, study)), tmp_path / "study.yaml")


def test_reinit_on_mask_of_a_method_arm_keeps_its_method(tmp_path):
    study = copy.deepcopy(STUDY)
    study["arms"] = [study["arms"][0], GREG, {"name": "greg-reinit", "sanity": "reinit-on-mask", "of": "greg"}]
    exp = expand(load_study(write(tmp_path, study)), tmp_path / "study.yaml")
    by = {(j.arm, j.seed): j for j in exp.runs}
    assert by[("greg-reinit", 0)].spec["method"] == by[("greg", 0)].spec["method"]
    assert by[("greg-reinit", 0)].spec["method"]["name"] == "greg-1" and by[("greg-reinit", 0)].spec["reinit"] == "fresh"


@pytest.mark.parametrize("arm, says", [
    ({"name": "x", "sanity": "inverted", "of": "nope"}, "'nope' is not another arm"),
    ({"name": "x", "sanity": "inverted"}, "needs both 'sanity'"),
    ({"name": "x", "sanity": "inverted", "of": "l1", "criterion": "random"}, "takes criterion from arm 'l1'"),
    ({"name": "x", "sanity": "inverted", "of": "l1-random"}, "itself a sanity arm"),
    ({"name": "x", "sanity": "shuffled-mask", "of": "l1"}, "needs granularity 'weight'"),
    ({"name": "x", "sanity": "sideways", "of": "l1"}, "sanity"),
])
def test_malformed_sanity_arms_are_refused(tmp_path, arm, says):
    study = copy.deepcopy(STUDY)
    study["arms"].append(arm)
    with pytest.raises(ConfigError, match=says):
        expand(load_study(write(tmp_path, study)), tmp_path / "study.yaml")


def _row(arm, seed, acc, **extra):
    return {"arm": arm, "ratio": 0.5, "seed": seed, "status": "done", "test_acc": acc, "base": f"b{seed}",
            "criterion": "l1", **extra}


def test_the_report_says_whether_the_choice_beats_its_own_ratios():
    l1, rand = [0.90, 0.80, 0.85], [0.80, 0.71, 0.74]
    rows = [_row("l1", s, a) for s, a in enumerate(l1)]
    rows += [_row("l1-random", s, a, sanity="same-ratios-random", of="l1") for s, a in enumerate(rand)]
    [line] = sanity_lines(rows)
    expect = paired_test(l1, rand)  # differences 0.10, 0.09, 0.11: significant
    assert expect.significant and "yes" in line and f"p={expect.p:.3g}" in line and "n=3" in line
    assert "choice of units beat random units" in line
    rows = [_row("l1", s, a) for s, a in enumerate(l1)]
    rows += [_row("l1-random", s, a, sanity="same-ratios-random", of="l1") for s, a in enumerate([0.91, 0.78, 0.86])]
    assert "no significant difference" in sanity_lines(rows)[0]
    assert sanity_lines(rows[:3]) == []  # no sanity arm, no section


def test_a_shuffled_mask_run_keeps_each_layers_density_through_retraining(tmp_path):
    from small_pipeline import run_with_base, spec_of

    from prunebench.loading import load_model
    from prunebench.pruning.masks import MaskSet
    from prunebench.rng import derive_seed
    from safetensors.torch import load_file

    prune_spec = {"ratio": 0.5, "criterion": "magnitude", "granularity": "weight"}
    spec = spec_of(prune={**prune_spec, "sanity": "shuffled-mask"}, regime={"name": "retrain", "epochs": 2, "lr": 0.01})
    base, _ = run_with_base(spec, tmp_path, "shuffled")
    dense, _ = load_model(base)
    own = prune(dense, PruneSpec(**prune_spec), seed=derive_seed(spec.seed, "criterion")).masks
    stored = MaskSet.from_tensors(load_file(tmp_path / "shuffled" / "masks.safetensors"))
    assert {n: int(m.sum()) for n, m in stored.masks.items()} == {n: int(m.sum()) for n, m in own.masks.items()}
    assert any(not torch.equal(stored.masks[n], own.masks[n]) for n in own.masks)
    retrained, _ = load_model(tmp_path / "shuffled")
    for name, mask in stored.masks.items():  # the shuffled mask held through retraining
        assert int(torch.count_nonzero(retrained.get_submodule(name).weight.detach()[~mask])) == 0

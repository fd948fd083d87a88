"""Li et al. 2017 pruned architectures: per-layer widths and params/MACs against the published table.

Published (Li et al. 2017, Table 1; their "FLOPs" are conv+fc MACs), with the reductions they print:
the absolute numbers are checked to the table's rounding (their base counts differ slightly from an
exact count: ResNet-34 2.16e7 vs 2.18e7 params, 3.64e9 vs 3.66e9 MACs), the reductions to 0.15 points.
"""
import pytest

from prunebench.models import build_model
from prunebench.pruning import PRESETS, prune

PUBLISHED = {  # preset: (model, params, MACs, params reduction %, MACs reduction %)
    "li-resnet56-a": ("resnet56", 7.7e5, 1.12e8, 9.4, 10.4),
    "li-resnet56-b": ("resnet56", 7.3e5, 9.09e7, 13.7, 27.6),
    "li-resnet110-a": ("resnet110", 1.68e6, 2.13e8, 2.3, 15.9),
    "li-resnet110-b": ("resnet110", 1.16e6, 1.55e8, 32.4, 38.6),
    "li-vgg16-a": ("vgg16", 5.4e6, 2.06e8, 64.0, 34.2),
    "li-resnet34-a": ("resnet34", 1.99e7, 3.08e9, 7.6, 15.5),
    "li-resnet34-b": ("resnet34", 1.93e7, 2.76e9, 10.8, 24.2),
}


def test_every_preset_is_checked():
    assert sorted(PUBLISHED) == PRESETS.names()


@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_li_preset_matches_published(preset):
    name, params, macs, params_red, macs_red = PUBLISHED[preset]
    model = build_model(name, seed=0)
    r = prune(model, preset).report
    assert r["params"] == pytest.approx(params, rel=0.015)
    assert r["macs"] == pytest.approx(macs, rel=0.01)
    assert 100 * (1 - r["params"] / r["dense_params"]) == pytest.approx(params_red, abs=0.15)
    assert 100 * (1 - r["macs"] / r["dense_macs"]) == pytest.approx(macs_red, abs=0.15)


def _pruned(widths):
    return {n: w[1] for n, w in widths.items() if w[0] != w[1]}


def test_resnet56_b_widths():
    r = prune(build_model("resnet56", seed=0), "li-resnet56-b").report
    pruned = _pruned(r["widths"])
    # stage 1: 16 -> 6 (60%), stage 2: 32 -> 22 (ceil 9.6 = 10 removed), stage 3: 64 -> 57 (ceil 6.4 = 7)
    skipped = {"layer1.7.conv1", "layer1.8.conv1", "layer2.0.conv1", "layer2.7.conv1", "layer3.0.conv1", "layer3.8.conv1"}
    for s, kept in ((1, 6), (2, 22), (3, 57)):
        for b in range(9):
            name = f"layer{s}.{b}.conv1"
            assert pruned.get(name) == (None if name in skipped else kept), name
    assert len(pruned) == 27 - len(skipped)
    assert r["params"] == 735712 and r["macs"] == 90907264  # exact, counted from the model


def test_resnet56_a_and_110_skips():
    pruned = _pruned(prune(build_model("resnet56", seed=0), "li-resnet56-a").report["widths"])
    assert {"layer1.7.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer3.8.conv1"}.isdisjoint(pruned)
    assert pruned["layer1.0.conv1"] == 14 and pruned["layer2.1.conv1"] == 28 and pruned["layer3.1.conv1"] == 57
    pruned = _pruned(prune(build_model("resnet110", seed=0), "li-resnet110-b").report["widths"])
    assert {"layer1.17.conv1", "layer2.0.conv1", "layer3.0.conv1"}.isdisjoint(pruned)
    assert pruned["layer1.0.conv1"] == 8 and pruned["layer2.1.conv1"] == 19 and pruned["layer3.1.conv1"] == 44
    assert len(pruned) == 54 - 3


def test_vgg16_a_widths():
    r = prune(build_model("vgg16", seed=0), "li-vgg16-a").report
    convs = [n for n in r["widths"] if n.startswith("features.")]
    assert [r["widths"][n][1] for n in convs] == [32, 64, 128, 128, 256, 256, 256, 256, 256, 256, 256, 256, 256]


def test_resnet34_a_widths():
    r = prune(build_model("resnet34", seed=0), "li-resnet34-a").report
    pruned = _pruned(r["widths"])
    assert pruned == {
        "layer1.1.conv1": 44, "layer1.2.conv1": 44, "layer2.1.conv1": 89, "layer2.2.conv1": 89,
        **{f"layer3.{b}.conv1": 179 for b in range(1, 5)},
    }

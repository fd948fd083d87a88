"""Structured pruning end to end: masked equivalence on every zoo model, replay, criteria."""
import copy

import pytest
import torch

from prunebench.errors import PruneError
from prunebench.models import MODELS, build_model
from prunebench.pruning import dense_hash, prune, replay
from prunebench.pruning import structured


def _zoo():
    for name in MODELS.names():
        family = MODELS.meta(name)["family"]
        shape = (3, 64, 64) if family == "resnet_imagenet" else None
        if family == "resnet_cifar" and name not in ("resnet20", "resnet32"):
            continue  # deeper CIFAR ResNets are the same blocks; presets cover them
        for kw in ({}, {"shortcut": "B"}) if family == "resnet_cifar" else ({},):
            yield pytest.param(name, shape, kw, id=name + "".join(f"-{v}" for v in kw.values()))


def _trained_like(model, seed=1):
    """Non-trivial BN statistics and affine params, so the equivalence check has teeth."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model


@pytest.mark.parametrize("name, shape, kw", list(_zoo()))
def test_masked_equivalence_and_replay_on_every_zoo_model(name, shape, kw):
    model = _trained_like(build_model(name, shape, seed=0, **kw))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = prune(model, 0.5, seed=0)  # check=True runs the masked-equivalence check
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # dense untouched
    assert result.report["params"] < result.report["dense_params"]
    assert result.report["macs"] < result.report["dense_macs"]
    again = replay(result.plan, model)
    got, want = again.state_dict(), result.model.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)
    # kept indices really are the highest-L1 filters of each pruned layer
    layer = result.plan["layers"][0]
    w = model.get_submodule(layer["name"]).weight.detach()
    l1 = w.reshape(w.shape[0], -1).abs().sum(1)
    assert sorted(layer["kept"]) == sorted(torch.topk(l1, len(layer["kept"])).indices.tolist())


def test_l1_picks_lowest_per_filter_l1_by_hand():
    model = build_model("mlp", (1, 3), 2, seed=0, depth=2, width=4, activation="relu")
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[1.0, -1, 1], [0.1, 0.1, 0.1], [-3, 0, 0], [0.5, 0.5, -0.5]]))
    result = prune(model, "0:0.5")  # remove 2 of 4 units: L1 = 3, 0.3, 3, 1.5
    assert result.plan["layers"][0]["kept"] == [0, 2]
    assert result.model.layers[0].weight.shape == (2, 3) and result.model.layers[1].weight.shape == (2, 2)
    assert torch.equal(result.model.layers[1].weight, model.layers[1].weight[:, [0, 2]])
    # equal scores: the lower index is removed first
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.ones(4, 3))
    assert prune(model, "0:0.5").plan["layers"][0]["kept"] == [2, 3]


def test_bn_scale_taylor_and_random_criteria():
    model = _trained_like(build_model("cnn1d", seed=0))
    with torch.no_grad():
        model.bn1.weight.copy_(torch.arange(32, dtype=torch.float32) - 15.5)  # |gamma| smallest at 15, 16
    r = prune(model, {"ratio": "0:0.0625", "criterion": "bn-scale"})
    assert r.plan["layers"][0]["kept"] == [i for i in range(32) if i not in (15, 16)]
    assert r.plan["criterion"]["name"] == "bn-scale" and "gamma" in r.plan["criterion"]["score"]
    x = torch.randn(8, 1, 40, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 10
    with pytest.raises(PruneError, match="criterion 'taylor' needs data"):
        prune(model, {"ratio": 0.5, "criterion": "taylor"})
    t1 = prune(model, {"ratio": 0.5, "criterion": "taylor"}, data=(x, y))
    t2 = prune(model, {"ratio": 0.5, "criterion": "taylor"}, data=[(x, y)])
    assert t1.plan["layers"] == t2.plan["layers"]
    a = prune(model, {"ratio": 0.5, "criterion": "random"}, seed=3).plan["layers"]
    b = prune(model, {"ratio": 0.5, "criterion": "random"}, seed=3).plan["layers"]
    c = prune(model, {"ratio": 0.5, "criterion": "random"}, seed=4).plan["layers"]
    assert a == b and a != c
    # per-layer seeds: skipping one layer does not change the random pick in another
    d = prune(model, {"ratio": 0.5, "criterion": "random", "skip": ["conv1"]}, seed=3).plan["layers"]
    assert d[0] == a[1]


def test_replay_refuses_other_dense_weights():
    model = build_model("resnet20", seed=0)
    plan = prune(model, 0.3).plan
    other = build_model("resnet20", seed=1)
    with pytest.raises(PruneError, match=f"plan was computed on dense weights {plan['dense_sha256']}, this model has {dense_hash(other)}"):
        replay(plan, other)


def test_check_catches_a_wrong_removal(monkeypatch):
    model = _trained_like(build_model("resnet20", seed=0))
    real = structured.PRUNE_FN["bn"]

    def wrong_bn(layer, idxs):  # drop the wrong BN channels
        return real(layer, [(i + 1) % layer.num_features for i in idxs])

    monkeypatch.setitem(structured.PRUNE_FN, "bn", wrong_bn)
    with pytest.raises(PruneError, match="pruned model differs from the masked dense model"):
        prune(model, 0.5)


def test_nothing_to_prune_is_an_error():
    with pytest.raises(PruneError, match="removes nothing"):
        prune(build_model("resnet20", seed=0), 0.0)
    with pytest.raises(PruneError, match="removes nothing"):  # ceil(0.01*16) = 1, but skipped everywhere
        prune(build_model("resnet20", seed=0), {"ratio": 0.01, "skip": ["*"]})


def test_plan_is_plain_json_with_the_record():
    import json

    model = build_model("resnet20", seed=0)
    result = prune(model, [0, 0.5, 0.25, 0, 0])
    plan = json.loads(json.dumps(result.plan))
    assert plan["format"] == "prunebench-plan" and plan["granularity"] == "filter"
    assert plan["criterion"]["name"] == "l1" and plan["spec"]["ratio"] == [0, 0.5, 0.25, 0, 0]
    assert plan["dense_sha256"] == dense_hash(model) and len(plan["dense_sha256"]) == 16
    assert {l["name"] for l in plan["layers"]} == {f"layer{s}.{b}.conv1" for s in (1, 2) for b in range(3)}
    assert all(len(l["kept"]) == l["width"] - l["removed"] for l in plan["layers"])
    assert ["layer1.0.conv1", 16, 8] in plan["widths"] and ["layer2.0.conv1", 32, 24] in plan["widths"]

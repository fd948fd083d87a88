"""Unstructured pruning: weight masks, global ranking, masks surviving SGD, safetensors round trip."""
import pytest
import torch
import torch.nn.functional as F

from prunebench.models import build_model
from prunebench.pruning import MaskSet, enforce_masks, masks_of, prune, replay


def test_layerwise_magnitude_by_hand():
    model = build_model("mlp", (1, 2), 2, seed=0, depth=2, width=3, activation="relu")
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[0.1, -2.0], [0.3, 0.05], [-0.2, 1.0]]))
    r = prune(model, {"ratio": "0:0.5", "criterion": "magnitude", "granularity": "weight"})
    # ceil(0.5 * 6) = 3 smallest |w|: 0.05, 0.1, 0.2
    assert r.masks.masks["layers.0"].tolist() == [[False, True], [True, False], [False, True]]
    assert torch.equal(r.model.layers[0].weight, torch.tensor([[0, -2.0], [0.3, 0], [0, 1.0]]))
    assert model.layers[0].weight[0, 0].item() == pytest.approx(0.1)  # dense untouched
    assert r.plan["layers"] == [{"name": "layers.0", "index": 0, "ratio": 0.5, "size": 6, "removed": 3}]
    assert r.report["shape_params"] == r.report["dense_params"]  # masks do not shrink the tensors...
    # ...but the counts every report and regime use are of the nonzero weights (issue 11, item 1)
    assert r.report["params"] == r.report["effective_params"] == r.report["dense_params"] - 3
    assert r.report["macs"] == r.report["effective_macs"] == r.report["dense_macs"] - 3


def test_global_ranking_spreads_unevenly():
    model = build_model("mlp", (1, 4), 2, seed=0, depth=3, width=4, activation="relu")
    with torch.no_grad():
        model.layers[0].weight.fill_(0.01)  # all smallest
        model.layers[1].weight.fill_(1.0)
    spec = {"ratio": 0.5, "criterion": "magnitude", "granularity": "weight", "scope": "global"}
    r = prune(model, spec)
    # 16 + 16 prunable weights (the output layer is explicit-only); 16 removed, all from layer 0 but one
    assert r.masks.counts()["layers.0"] == (1, 16)  # every layer keeps at least one weight
    assert "layers.1" not in r.masks.masks


def test_masks_stay_zero_through_sgd_with_momentum_and_weight_decay():
    model = build_model("cnn1d", seed=0, channels=[8, 8], kernel_sizes=[3, 3], strides=[1, 2])
    r = prune(model, {"ratio": 0.7, "criterion": "magnitude", "granularity": "weight"})
    net = r.model
    zero_before = {n: (~m) for n, m in r.masks.masks.items()}
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 40, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for _epoch in range(2):
        for i in range(0, 64, 16):
            opt.zero_grad()
            F.cross_entropy(net(x[i:i + 16]), y[i:i + 16]).backward()
            opt.step()
            enforce_masks(net)  # what the training loop's mask callback does
    for name, zero in zero_before.items():
        w = net.get_submodule(name).weight
        assert torch.count_nonzero(w[zero]) == 0
        assert torch.count_nonzero(w[~zero]) == int((~zero).sum())  # kept weights did train
    assert masks_of(net) is r.masks


def test_mask_tensors_round_trip_and_replay():
    model = build_model("lenet5", seed=0)
    r = prune(model, {"ratio": 0.8, "criterion": "random", "granularity": "weight"}, seed=5)
    tensors = r.masks.to_tensors()
    assert set(tensors) == {"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"}  # not fc3
    back = MaskSet.from_tensors(tensors)
    assert back.sha256() == r.masks.sha256() == r.plan["masks"]["sha256"]
    for masks in (None, back):
        again = replay(r.plan, model, masks=masks)
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), r.model.state_dict().values()))
    other = MaskSet({n: torch.ones_like(m) for n, m in r.masks.masks.items()})
    with pytest.raises(Exception, match="masks hash"):
        replay(r.plan, model, masks=other)


def test_classifier_can_be_masked_when_named():
    model = build_model("lenet5", seed=0)
    r = prune(model, {"ratio": "fc3:0.5", "criterion": "magnitude", "granularity": "weight"})
    assert set(r.masks.masks) == {"fc3"} and r.masks.counts()["fc3"] == (420, 840)

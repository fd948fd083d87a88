"""Any nn.Module can be pruned: a model defined here (not from the zoo) gets its prunable layers,
coupled groups and protected output layer from the dependency graph."""
import pytest
import torch
from torch import nn

from prunebench import prune, replay
from prunebench.errors import PruneError
from prunebench.pruning.structured import _CACHE


class Net(nn.Module):
    """Convolutions with BatchNorm, a residual add (stem and conv2 are coupled by it) and a linear head."""

    def __init__(self, width: int = 16, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(width)
        self.conv1 = nn.Conv2d(width, 24, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.conv2 = nn.Conv2d(24, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = torch.relu(self.bn0(self.stem(x)))
        x = torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return self.fc(x.mean(dim=(2, 3)))


SHAPE = (3, 8, 8)


def make(seed=0, cls=Net):
    torch.manual_seed(seed)
    model = cls()
    with torch.no_grad():  # non-trivial BN statistics, so the masked-equals-pruned check means something
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_a_user_model_is_pruned_at_half_with_filters_physically_removed():
    model = make()
    x = torch.randn(4, *SHAPE)
    result = prune(model, 0.5, input_shape=SHAPE)  # check=True: masked dense == pruned, recounted sizes
    pruned = result.model
    # conv1 is the only layer that can be pruned alone: the residual add couples stem and conv2,
    # and fc is the output layer.
    assert pruned.conv1.out_channels == 12 and pruned.bn1.num_features == 12 and pruned.conv2.in_channels == 12
    assert pruned.stem.out_channels == 16 and pruned.fc.out_features == 5
    assert [e["name"] for e in result.plan["layers"]] == ["conv1"]
    assert result.plan["model"]["family"] == "generic"
    assert result.plan["model"]["class"] == f"{Net.__module__}.Net"
    assert pruned(x).shape == model(x).shape == (4, 5)
    assert result.report["params"] < result.report["dense_params"]
    again = replay(result.plan, make())
    assert all(torch.equal(a, b) for a, b in zip(pruned.state_dict().values(), again.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(make().state_dict().values(), model.state_dict().values()))  # dense untouched


def test_a_coupled_group_is_pruned_as_a_whole_when_a_pattern_names_it():
    model = make()
    result = prune(model, "stem:0.5", input_shape=SHAPE)
    p = result.model
    # the residual stream loses half its channels everywhere: stem, bn0, conv2, bn2, conv1's inputs and fc's inputs
    assert (p.stem.out_channels, p.bn0.num_features, p.conv2.out_channels, p.bn2.num_features) == (8, 8, 8, 8)
    assert p.conv1.in_channels == 8 and p.fc.in_features == 8
    x = torch.randn(2, *SHAPE)
    assert p(x).shape == (2, 5)


def test_two_members_of_one_group_and_the_output_layer_are_refused():
    with pytest.raises(PruneError, match="coupled through"):
        prune(make(), "stem:0.5,conv2:0.5", input_shape=SHAPE)
    with pytest.raises(PruneError, match=r"layer 3 \(fc\) is not prunable"):
        prune(make(), "fc:0.5", input_shape=SHAPE)


def test_a_user_model_without_an_input_shape_is_a_clear_error():
    with pytest.raises(PruneError, match="was not built by prunebench: pass input_shape="):
        prune(make(), 0.5)


def test_masks_and_their_replay_work_on_a_user_model():
    model = make()
    result = prune(model, {"ratio": 0.6, "criterion": "magnitude", "granularity": "weight"}, input_shape=SHAPE)
    w = result.model.conv1.weight
    assert 0.55 < float((w == 0).float().mean()) < 0.65
    again = replay(result.plan, make(), masks=result.masks)
    assert torch.equal(again.conv1.weight, w)


def test_the_template_cache_is_keyed_by_the_class_import_path():
    # Two classes both called Net, with the same tensor names and shapes but different wiring: the
    # second has no residual add, so its stem is prunable alone. A cache keyed by the bare class
    # name would hand it the first one's coupled groups.
    ns: dict = {"__name__": "other_lab.models"}
    exec("import torch\nfrom torch import nn\n"
         "class Net(nn.Module):\n"
         "    def __init__(self):\n"
         "        super().__init__()\n"
         "        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False); self.bn0 = nn.BatchNorm2d(16)\n"
         "        self.conv1 = nn.Conv2d(16, 24, 3, padding=1, bias=False); self.bn1 = nn.BatchNorm2d(24)\n"
         "        self.conv2 = nn.Conv2d(24, 16, 3, padding=1, bias=False); self.bn2 = nn.BatchNorm2d(16)\n"
         "        self.fc = nn.Linear(16, 5)\n"
         "    def forward(self, x):\n"
         "        x = torch.relu(self.bn0(self.stem(x)))\n"
         "        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))\n"
         "        return self.fc(x.mean(dim=(2, 3)))\n", ns)
    other = ns["Net"]
    assert other.__qualname__ == Net.__qualname__ and other.__module__ != Net.__module__
    prune(make(), 0.5, input_shape=SHAPE)  # caches Net's groups
    result = prune(make(cls=other), 0.5, input_shape=SHAPE)
    assert [e["name"] for e in result.plan["layers"]] == ["stem", "conv1", "conv2"]
    assert result.model.stem.out_channels == 8 and result.model.conv1.in_channels == 8
    keys = {k[0] for k in _CACHE}
    assert f"{Net.__module__}.Net" in keys

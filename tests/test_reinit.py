"""Re-initialisation of pruned models: keep, fresh, OrthP."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from prunebench.errors import ConfigError
from prunebench.models import build_model
from prunebench.metrics.trainability import jacobian_singular_values, jsv_stats
from prunebench.pruning.reinit import REINITS, apply_reinit, default_gain, orthonormal_factor


class TinyMLP(nn.Module):
    """Stand-in shaped like the zoo MLP: Linear layers in ``layers``, functional activation."""

    def __init__(self, sizes: list[int], activation: str = "linear") -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = activation

    def forward(self, x):
        x = x.flatten(1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers) and self.activation == "relu":
                x = torch.relu(x)
        return x

    def reset_parameters(self):
        for layer in self.layers:
            layer.reset_parameters()


def seeded(fn, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()


def l1_prune_mlp(model: nn.Module, keep: int) -> list[nn.Linear]:
    """Keep the ``keep`` output units of largest L1 norm in every hidden layer (paper's [0-5:0.8, 6:0])."""
    layers, kept_in = [], None
    linears = list(model.layers)
    for i, layer in enumerate(linears):
        w, b = layer.weight.detach(), layer.bias.detach()
        if kept_in is not None:
            w = w[:, kept_in]
        rows = torch.arange(w.shape[0])
        if i + 1 < len(linears):
            rows = torch.sort(torch.topk(w.abs().sum(1), keep).indices).values
        new = nn.Linear(w.shape[1], len(rows))
        with torch.no_grad():
            new.weight.copy_(w[rows])
            new.bias.copy_(b[rows])
        layers.append(new)
        kept_in = rows
    return layers


def pruned_mlp7_linear() -> nn.Module:
    """The zoo's MLP-7-Linear (40 -> 100 x 6 -> 10) with 80% of the units of layers 0-5 removed by L1."""
    model = build_model("mlp7-linear", seed=0)
    model.layers = nn.ModuleList(l1_prune_mlp(model, keep=20))
    return model


X40 = torch.randn(8, 1, 40, generator=torch.Generator().manual_seed(0))


def test_registry_lists_the_methods_and_rejects_unknown_names():
    assert REINITS.names() == ["fresh", "keep", "orthp"]
    with pytest.raises(ConfigError, match="unknown reinit 'ortho'; valid: fresh, keep, orthp"):
        apply_reinit("ortho", nn.Linear(2, 2), seed=0)


def test_keep_changes_nothing_and_returns_the_same_model():
    model = seeded(lambda: TinyMLP([4, 3, 2]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert apply_reinit("keep", model, seed=0) is model
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_fresh_depends_on_the_seed_only_and_leaves_global_rng_alone():
    a, b = seeded(lambda: TinyMLP([4, 3, 2]), 1), seeded(lambda: TinyMLP([4, 3, 2]), 2)
    state = torch.random.get_rng_state()
    apply_reinit("fresh", a, seed=7)
    apply_reinit("fresh", b, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = apply_reinit("fresh", seeded(lambda: TinyMLP([4, 3, 2])), seed=8)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    # default Linear init for the current shape: |w| <= 1/sqrt(fan_in)
    assert a.layers[1].weight.abs().max() <= 1 / math.sqrt(3)


def test_fresh_on_a_plain_module_resets_every_submodule_that_can():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(5.0)
    net[1].running_mean.fill_(3.0)
    apply_reinit("fresh", net, seed=0)
    assert net[0].weight.abs().max() <= 1 / math.sqrt(3)
    assert torch.equal(net[1].weight, torch.ones(4)) and torch.equal(net[1].running_mean, torch.zeros(4))
    twin = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    apply_reinit("fresh", twin, seed=0)
    assert torch.equal(twin[2].weight, net[2].weight)


@pytest.mark.parametrize("weight, expected", [
    ([[3.0, 0.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]]),
    ([[-3.0, 0.0], [0.0, 2.0]], [[-1.0, 0.0], [0.0, 1.0]]),  # R_11 = 3 > 0 keeps the sign of the unit
    ([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),  # wide: via the transpose
    ([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]),  # tall
    ([[1.0, 1.0], [1.0, -1.0]], [[0.5 ** 0.5, 0.5 ** 0.5], [0.5 ** 0.5, -(0.5 ** 0.5)]]),
])
def test_orthonormal_factor_by_hand(weight, expected):
    assert torch.allclose(orthonormal_factor(torch.tensor(weight)), torch.tensor(expected), atol=1e-6)


def test_orthp_makes_every_layer_orthonormal_times_gain_and_leaves_the_rest():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4, 5))
    bias, bn = net[0].bias.clone(), {k: v.clone() for k, v in net[1].state_dict().items()}
    apply_reinit("orthp", net, seed=0)
    conv = net[0].weight.reshape(4, 27)  # 4 filters x (3 in-channels x 3 x 3): wide -> orthonormal rows
    assert torch.allclose(conv @ conv.T, 2 * torch.eye(4), atol=1e-5)
    fc = net[4].weight  # 5 x 16: wide
    assert torch.allclose(fc @ fc.T, 2 * torch.eye(5), atol=1e-5)
    assert torch.equal(net[0].bias, bias)
    assert all(torch.equal(v, bn[k]) for k, v in net[1].state_dict().items())
    apply_reinit("orthp", net, seed=0, gain=0.5)
    assert torch.allclose(net[4].weight @ net[4].weight.T, 0.25 * torch.eye(5), atol=1e-5)


def test_default_gain_sees_relu_modules_and_the_activation_attribute():
    assert default_gain(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) == math.sqrt(2)
    assert default_gain(TinyMLP([2, 2, 2], activation="relu")) == math.sqrt(2)
    assert default_gain(TinyMLP([2, 2, 2], activation="linear")) == 1.0
    assert default_gain(nn.Sequential(nn.Linear(2, 2), nn.Tanh())) == 1.0


def test_orthp_restores_exact_isometry_of_the_pruned_linear_mlp():
    model = pruned_mlp7_linear()
    assert [tuple(l.weight.shape) for l in model.layers] == [(20, 40)] + [(20, 20)] * 5 + [(10, 20)]
    before = jsv_stats(model, X40)
    assert before["mean"] < 0.1  # pruning + default init: far from isometry
    apply_reinit("orthp", model, seed=0)
    s = jacobian_singular_values(model, X40)
    assert s.shape == (8, 10)
    assert torch.allclose(s, torch.ones_like(s), atol=1e-4)
    assert jsv_stats(model, X40)["mean"] == pytest.approx(1.0, abs=1e-4)


def test_orthp_cannot_give_isometry_when_a_layer_widens():
    # 40 -> 100 has orthonormal columns only, so W0 W0^T is a projection and some JSVs fall below 1
    model = seeded(lambda: TinyMLP([40, 100, 100, 10]))
    apply_reinit("orthp", model, seed=0)
    s = jacobian_singular_values(model, X40)
    assert s.max() <= 1 + 1e-5 and s.min() < 0.9


def test_orthp_on_relu_mlp_uses_gain_sqrt2():
    model = seeded(lambda: TinyMLP([6, 4, 3], activation="relu"))
    apply_reinit("orthp", model, seed=0)
    w = model.layers[0].weight
    assert torch.allclose(w @ w.T, 2 * torch.eye(4), atol=1e-5)


@pytest.mark.parametrize("name, gain", [
    ("mlp7-linear", 1.0), ("mlp7-relu", math.sqrt(2)), ("cnn1d", math.sqrt(2)), ("resnet20", math.sqrt(2)),
])
def test_default_gain_of_zoo_models_including_functional_relu(name, gain):
    model = build_model(name, seed=0)
    model.train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    assert default_gain(model) == gain
    assert model.training  # mode restored, BatchNorm statistics untouched by the probing forward
    assert all(torch.equal(v, stats[k]) for k, v in model.state_dict().items())

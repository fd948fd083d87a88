"""Trainability metrics: exact Jacobian singular values, TA and the convergence check."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from prunebench.errors import PrunebenchError
from prunebench.models import build_model
from prunebench.metrics.trainability import (
    MetricError,
    convergence_at_first_decay,
    input_jacobians,
    jacobian_singular_values,
    jsv_stats,
    trainability_accuracy,
)


def reference_svs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Brute force: one full Jacobian per example with autograd.functional, then svdvals."""
    model.eval()
    rows = []
    for x in inputs:
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0], x)
        rows.append(torch.linalg.svdvals(jac.reshape(jac.shape[0], -1)))
    return torch.stack(rows)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(1, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(),
        nn.Conv1d(4, 4, 3, padding=1, bias=False), nn.BatchNorm1d(4), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 12, 5),
    )
    net.train()
    net(torch.randn(16, 1, 12) * 3 + 1)  # non-trivial running statistics
    return net


def test_diagonal_linear_map_gives_its_diagonal_as_singular_values():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, -0.5]]))
    s = jacobian_singular_values(layer, torch.randn(3, 2))
    assert s.shape == (3, 2)
    assert torch.allclose(s, torch.tensor([[2.0, 0.5]] * 3))
    stats = jsv_stats(layer, torch.randn(3, 2))
    # values 2 and 0.5: mean 1.25, population std 0.75, cond 4, mean (s-1)^2 = (1 + 0.25) / 2
    assert stats == pytest.approx({"mean": 1.25, "std": 0.75, "min": 0.5, "max": 2.0, "cond": 4.0,
                                   "dev": 0.625, "n": 3})
    assert all(isinstance(v, float) for k, v in stats.items() if k != "n") and isinstance(stats["n"], int)


def test_linear_mlp_jacobian_is_the_product_of_its_weights_for_every_input():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 3))
    jac = input_jacobians(net, torch.randn(4, 6))
    product = net[2].weight @ net[1].weight @ net[0].weight
    assert jac.shape == (4, 3, 6)
    for j in jac:
        assert torch.allclose(j, product, atol=1e-6)
    expected = torch.linalg.svdvals(product)
    assert torch.allclose(jacobian_singular_values(net, torch.randn(4, 6)), expected.expand(4, 3), atol=1e-6)


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 3)), (8,)),
    (small_cnn, (1, 12)),
])
def test_batched_jacobian_matches_per_example_brute_force(make, shape):
    torch.manual_seed(2)
    model, x = make(), torch.randn(5, *shape)
    ref = reference_svs(copy.deepcopy(model), x)
    got = jacobian_singular_values(model, x)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(jacobian_singular_values(model, x, chunk=2), got, atol=1e-6)


def test_measurement_restores_modes_keeps_bn_statistics_and_leaves_no_grads():
    model = small_cnn()
    model[4].eval()  # a mixed-mode model must come back mixed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    jsv_stats(model, torch.randn(6, 1, 12))
    assert model.training and model[1].training and not model[4].training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("name, shape", [
    ("mlp7-linear", (1, 40)), ("mlp7-relu", (1, 40)), ("cnn1d", (1, 40)), ("lenet5", None), ("resnet20", None),
])
def test_zoo_models_match_brute_force(name, shape):
    model = build_model(name, seed=0)
    in_shape = shape or tuple(getattr(model, "zoo_args")["input_shape"])
    x = torch.randn(2 if name == "resnet20" else 4, *in_shape, generator=torch.Generator().manual_seed(3))
    got = jacobian_singular_values(model, x)
    ref = reference_svs(copy.deepcopy(model), x)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)


def test_bad_inputs_are_user_errors():
    net = nn.Linear(3, 2)
    with pytest.raises(PrunebenchError, match="non-empty batch"):
        jsv_stats(net, torch.zeros(0, 3))
    with pytest.raises(MetricError, match="chunk"):
        jacobian_singular_values(net, torch.zeros(2, 3), chunk=0)


def test_trainability_accuracy_averages_the_first_stage_only():
    assert trainability_accuracy([0.1, 0.2, 0.6, 0.99], 3) == pytest.approx(0.3)
    assert trainability_accuracy([50.0], 1) == 50.0
    with pytest.raises(MetricError, match="3 epochs but only 2"):
        trainability_accuracy([0.1, 0.2], 3)
    with pytest.raises(MetricError, match="positive integer"):
        trainability_accuracy([0.1], 0)


def test_convergence_check_fits_the_slope_of_the_last_epochs_of_the_first_stage():
    # first stage = 6 epochs; window 3 sees 0.50, 0.52, 0.54 -> slope 0.02 per epoch
    accs = [0.1, 0.3, 0.4, 0.50, 0.52, 0.54, 0.9, 0.9]
    out = convergence_at_first_decay(accs, 6, window=3)
    assert out["rising"] is True and out["slope"] == pytest.approx(0.02) and out["window"] == 3
    flat = convergence_at_first_decay([0.2, 0.8, 0.8, 0.8005, 0.8], 5, window=4)
    assert flat["rising"] is False and abs(flat["slope"]) < 1e-3
    # percentages: the same curve x100 needs a threshold in percent
    pct = convergence_at_first_decay([80.0, 80.05, 80.1], 3, threshold=0.1)
    assert pct["rising"] is False and pct["slope"] == pytest.approx(0.05) and pct["window"] == 3
    with pytest.raises(MetricError, match="at least 2"):
        convergence_at_first_decay([0.5], 1)
    with pytest.raises(MetricError, match="window"):
        convergence_at_first_decay([0.5, 0.6], 2, window=1)


def test_slope_is_exact_least_squares():
    ys = [1.0, 3.0, 2.0, 5.0]  # x = 0..3: slope = sum((x-1.5)(y-2.75)) / 5 = 5.5 / 5
    assert convergence_at_first_decay(ys, 4, window=4)["slope"] == pytest.approx(1.1)
    assert math.isfinite(convergence_at_first_decay(ys, 4, window=10)["slope"])

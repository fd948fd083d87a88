"""Zoo architectures against published / hand-computed numbers, names and re-initialisation."""
from __future__ import annotations

import math

import pytest
import torch
import torch.fx
from torch import nn

from prunebench.models import MODELS, build_model, model_info


def skeleton(name: str, **args) -> nn.Module:
    """The architecture on the meta device: structure and shapes only, no memory, no init."""
    info = model_info(name)
    with torch.device("meta"):
        return MODELS.get(name)(info["input_shape"], info["num_classes"], **args)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv3(cin: int, cout: int) -> int:
    return 9 * cin * cout


# Published counts (He et al. / Idelbayev for CIFAR, torchvision for ImageNet). ResNet-20 with
# option A has 269,722; the often-quoted 272,474 is option B (two projections: 576 + 2,176 more).
@pytest.mark.parametrize(
    "name, args, expected",
    [("resnet20", {}, 269_722), ("resnet20", {"shortcut": "B"}, 272_474), ("resnet56", {}, 853_018),
     ("resnet110", {}, 1_727_962), ("resnet18", {}, 11_689_512), ("resnet34", {}, 21_797_672),
     ("resnet50", {}, 25_557_032), ("lenet5", {}, 61_706), ("vgg19", {}, 20_035_018)],
)
def test_parameter_counts_match_published_numbers(name, args, expected):
    assert n_params(skeleton(name, **args)) == expected


def test_resnet20_option_a_count_by_hand():
    convs = conv3(3, 16) + 6 * conv3(16, 16) + conv3(16, 32) + 5 * conv3(32, 32) + conv3(32, 64) + 5 * conv3(64, 64)
    bns = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    assert convs + bns + 64 * 10 + 10 == 269_722


def test_vgg16_li_variant_count_by_hand():
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    convs = sum(conv3(a, b) for a, b in zip([3] + widths[:-1], widths))  # bias-free convs
    bns = 2 * sum(widths)
    classifier = (512 * 512 + 512) + 2 * 512 + (512 * 10 + 10)
    expected = convs + bns + classifier
    assert expected == 14_987_722  # "1.5e7" in Li et al. 2017, Table 1
    model = skeleton("vgg16")
    assert n_params(model) == expected
    assert [type(m).__name__ for m in model.classifier] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert isinstance(skeleton("vgg16", classifier="single").classifier, nn.Linear)
    assert isinstance(skeleton("vgg19").classifier, nn.Linear)


def _torchvision_keys(counts: tuple[int, ...], bottleneck: bool) -> list[str]:
    """State-dict keys of torchvision's resnet18/34/50, written out from its module structure."""
    bn = lambda p: [f"{p}.weight", f"{p}.bias", f"{p}.running_mean", f"{p}.running_var", f"{p}.num_batches_tracked"]
    keys = ["conv1.weight", *bn("bn1")]
    for stage, count in enumerate(counts, start=1):
        for j in range(count):
            p = f"layer{stage}.{j}"
            for k in (1, 2, 3) if bottleneck else (1, 2):
                keys += [f"{p}.conv{k}.weight", *bn(f"{p}.bn{k}")]
            if j == 0 and (stage > 1 or bottleneck):
                keys += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize(
    "name, counts, bottleneck, n_keys",
    [("resnet18", (2, 2, 2, 2), False, 122), ("resnet34", (3, 4, 6, 3), False, 218), ("resnet50", (3, 4, 6, 3), True, 320)],
)
def test_imagenet_resnet_state_dict_keys_are_torchvision_names(name, counts, bottleneck, n_keys):
    keys = list(skeleton(name).state_dict())
    assert keys == _torchvision_keys(counts, bottleneck)
    assert len(keys) == n_keys


def test_resnet50_stride_sits_in_the_3x3_conv():
    block = skeleton("resnet50").layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)


def test_option_a_shortcut_subsamples_and_zero_pads_without_parameters():
    model = build_model("resnet20", seed=0)
    shortcut = model.layer2[0].shortcut
    assert list(shortcut.parameters()) == [] and isinstance(model.layer1[0].shortcut, nn.Identity)
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float32).reshape(2, 16, 4, 4)
    y = shortcut(x)
    assert y.shape == (2, 32, 2, 2)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])  # 8 zero channels on each side
    assert not y[:, :8].any() and not y[:, 24:].any()
    b = build_model("resnet20", shortcut="B")
    names = [n for n, _ in b.layer3[0].shortcut.named_children()]
    assert names == ["0", "1"] and isinstance(b.layer3[0].shortcut[0], nn.Conv2d)


@pytest.mark.parametrize("name, shape", [("resnet20", (3, 32, 32)), ("cnn1d", (1, 40)), ("mlp7-relu", (1, 40))])
def test_traces_with_torch_fx(name, shape):
    model = build_model(name, seed=0).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.equal(traced(x), model(x))


@pytest.mark.parametrize(
    "name, layer, follower, attr, expected",
    [("resnet20", "layer2.1.conv1", "layer2.1.conv2", "in_channels", 29),
     ("cnn1d", "conv3", "fc", "in_features", 125 * 10),  # the flattened map is 10 long
     ("lenet5", "conv2", "fc1", "in_features", 13 * 5 * 5)],
)
def test_zoo_models_prune_with_torch_pruning(name, layer, follower, attr, expected):
    """Physical filter removal goes through option-A shortcuts and flatten -> Linear heads."""
    tp = pytest.importorskip("torch_pruning")
    model = build_model(name, seed=0).eval()
    shape = (2, *model_info(name)["input_shape"])
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.randn(shape))
    modules = dict(model.named_modules())
    graph.get_pruning_group(modules[layer], tp.prune_conv_out_channels, idxs=[0, 1, 2]).prune()
    assert getattr(modules[follower], attr) == expected
    assert model(torch.randn(shape)).shape == (2, 10)


def _shrink_conv_pair(first: nn.Conv2d, bn: nn.BatchNorm2d, second: nn.Conv2d, keep: int):
    """Physically keep the first ``keep`` filters of ``first`` (and the matching BN / next input)."""
    with torch.no_grad():
        first.weight = nn.Parameter(first.weight[:keep].clone())
        first.out_channels = keep
        for name in ("weight", "bias"):
            setattr(bn, name, nn.Parameter(getattr(bn, name)[:keep].clone()))
        bn.running_mean, bn.running_var = bn.running_mean[:keep].clone(), bn.running_var[:keep].clone()
        bn.num_features = keep
        second.weight = nn.Parameter(second.weight[:, :keep].clone())
        second.in_channels = keep


def test_reset_parameters_reinitialises_a_shrunk_resnet_from_its_current_shapes():
    model = build_model("resnet56", seed=0)
    block = model.layer3[0]
    _shrink_conv_pair(block.conv1, block.bn1, block.conv2, keep=8)
    with torch.no_grad():
        block.bn1.weight.fill_(5.0)
        block.conv2.weight.zero_()
    torch.manual_seed(0)
    model.reset_parameters()
    # Kaiming-normal fan-in: std = sqrt(2 / (in_channels * 3 * 3)); conv2 now has 8 inputs.
    assert block.conv2.weight.std().item() == pytest.approx(math.sqrt(2 / 72), rel=0.05)
    assert torch.equal(block.bn1.weight, torch.ones(8)) and torch.equal(block.bn1.running_var, torch.ones(8))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_reset_parameters_on_a_shrunk_mlp_uses_the_new_fan_in():
    model = build_model("mlp7-linear", seed=0)
    with torch.no_grad():
        model.layers[0] = nn.Linear(40, 20)
        model.layers[1] = nn.Linear(20, 100)
        model.layers[1].weight.fill_(9.0)
    model.reset_parameters()
    # PyTorch's default Linear init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    w = model.layers[1].weight
    assert w.abs().max().item() <= 1 / math.sqrt(20) and w.abs().max().item() > 0.9 / math.sqrt(20)
    assert model(torch.randn(3, 40)).shape == (3, 10)


@pytest.mark.parametrize("name", ["cnn1d", "vgg11", "lenet5", "mlp7-relu", "resnet20"])
def test_seeded_build_equals_seeded_reset_parameters(name):
    """build_model initialises through reset_parameters: a scratch re-init with the same seed on a
    model of the same shape reproduces the built weights bit for bit."""
    built = build_model(name, seed=5)
    other = build_model(name, seed=99)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        other.reset_parameters()
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in built.state_dict().items())

"""The model zoo: every registered model builds and runs; seeds, names and arguments behave."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from prunebench.errors import ConfigError, PrunebenchError
from prunebench.models import FAMILIES, MODELS, build_model, model_info, register_model

IMAGENET = {"resnet18", "resnet34", "resnet50"}


def _forward_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    # ImageNet models run on 64x64 here (adaptive pooling makes that legal) to keep the test fast.
    return (shape[0], 64, 64) if name in IMAGENET else shape


def _logits(model: nn.Module, shape: tuple[int, ...], batch: int = 2) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0)))


def test_registry_lists_the_whole_zoo():
    expected = {
        "mlp", "mlp7-linear", "mlp7-relu", "cnn1d", "lenet5",
        "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
        "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
    }
    assert set(MODELS.names()) == expected
    for name in MODELS:
        info = model_info(name)
        assert set(info) == {"family", "input_shape", "num_classes", "description"}
        assert info["family"] in FAMILIES and info["description"]


@pytest.mark.parametrize(
    "name, family, shape, classes",
    [("mlp7-linear", "mlp", (1, 40), 10), ("cnn1d", "cnn1d", (1, 40), 10), ("lenet5", "lenet", (1, 28, 28), 10),
     ("resnet56", "resnet_cifar", (3, 32, 32), 10), ("vgg19", "vgg", (3, 32, 32), 10),
     ("resnet50", "resnet_imagenet", (3, 224, 224), 1000)],
)
def test_default_data_shapes(name, family, shape, classes):
    assert model_info(name) == {**model_info(name), "family": family, "input_shape": shape, "num_classes": classes}


@pytest.mark.parametrize("name", MODELS.names())
def test_builds_at_default_shape_and_gives_logits(name):
    info = model_info(name)
    model = build_model(name, seed=0)
    out = _logits(model, _forward_shape(name, info["input_shape"]))
    assert out.shape == (2, info["num_classes"]) and torch.isfinite(out).all()
    assert model.zoo_name == name
    assert model.zoo_args == {"input_shape": list(info["input_shape"]), "num_classes": info["num_classes"]}


@pytest.mark.parametrize("name", MODELS.names())
def test_builds_for_other_channels_and_classes(name):
    default = model_info(name)["input_shape"]
    shape = (2,) + tuple(default[1:])
    if name in IMAGENET:
        shape = (2, 64, 64)
    model = build_model(name, shape, 7, seed=1)
    assert _logits(model, shape).shape == (2, 7)
    assert callable(model.reset_parameters)


def test_mlps_flatten_and_take_40_inputs_on_mnist1d():
    model = build_model("mlp7-linear", seed=0)
    assert [(l.in_features, l.out_features) for l in model.layers] == [(40, 100)] + [(100, 100)] * 5 + [(100, 10)]
    x = torch.randn(3, 1, 40)
    assert torch.equal(model(x), model(x.reshape(3, 40)))
    mlp = build_model("mlp", (784,), 10, depth=3, width=16, activation="linear")
    assert [l.out_features for l in mlp.layers] == [16, 16, 10]
    assert mlp.zoo_args == {"input_shape": [784], "num_classes": 10, "depth": 3, "width": 16, "activation": "linear"}


def test_linear_mlp_is_affine_and_relu_mlp_is_not():
    x, y = torch.randn(4, 40), torch.randn(4, 40)
    with torch.no_grad():
        lin = build_model("mlp7-linear", seed=0)
        zero = lin(torch.zeros(1, 40))
        # With no activation, f(x) - f(0) is linear in x.
        torch.testing.assert_close(lin(2 * x + y) - zero, 2 * (lin(x) - zero) + (lin(y) - zero), atol=1e-5, rtol=1e-4)
        relu = build_model("mlp7-relu", seed=0)
        zero = relu(torch.zeros(1, 40))
        assert not torch.allclose(relu(-x) - zero, -(relu(x) - zero), atol=1e-4)


def test_cnn1d_accepts_inputs_with_or_without_channel_axis():
    model = build_model("cnn1d", seed=0).eval()
    x = torch.randn(5, 40)
    assert torch.equal(model(x), model(x.unsqueeze(1)))
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.BatchNorm1d, nn.Linear))]
    assert names == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "fc"]


def test_same_seed_same_bits_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_model("resnet20", seed=7).state_dict()
    b = build_model("resnet20", seed=7).state_dict()
    c = build_model("resnet20", seed=8).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_rebuilding_from_zoo_args_gives_the_same_model():
    model = build_model("resnet20", (1, 16, 16), 4, seed=3, shortcut="B")
    again = build_model(model.zoo_name, seed=3, **model.zoo_args)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown model 'resnet57'.*resnet56"):
        build_model("resnet57")


@pytest.mark.parametrize(
    "name, kwargs, message",
    [("resnet20", {"shortcut": "C"}, "shortcut must be one of"),
     ("vgg16", {"classifier": "big"}, "classifier must be one of"),
     ("mlp", {"activation": "tanh"}, "activation must be one of"),
     ("mlp", {"depth": 0}, "depth must be a positive integer"),
     ("resnet18", {"shortcut": "A"}, "unknown argument 'shortcut'; valid: [(]none[)]"),
     ("vgg16", {"clasifier": "li"}, "unknown argument 'clasifier'; valid: classifier"),
     ("lenet5", {"input_shape": (1, 8, 8)}, "too small"),
     ("vgg16", {"input_shape": (3, 32)}, "input_shape must have 3 entries"),
     ("cnn1d", {"num_classes": 0}, "num_classes must be a positive integer"),
     ("cnn1d", {"channels": [8, 8], "kernel_sizes": [3]}, "equally long")],
)
def test_bad_arguments_are_user_errors(name, kwargs, message):
    with pytest.raises(PrunebenchError, match=message):
        build_model(name, **kwargs)


def test_duplicate_registration_and_unknown_family_are_errors():
    from prunebench.errors import ConfigError

    with pytest.raises(ConfigError, match="'cnn1d' is already taken"):
        register_model("cnn1d", family="cnn1d", input_shape=(1, 40), num_classes=10, description="x")(lambda s, c: None)
    with pytest.raises(ConfigError, match="family"):
        register_model("new", family="transformer", input_shape=(1,), num_classes=2, description="x")


def test_bad_shapes_and_argument_types_are_one_line_config_errors():
    from prunebench.errors import ConfigError
    from prunebench.models import build_model

    with pytest.raises(ConfigError, match="input 4x4 is too small"):
        build_model("vgg11", (3, 4, 4), 10)
    with pytest.raises(ConfigError, match="channels must be a list"):
        build_model("cnn1d", (1, 40), 10, channels=5)

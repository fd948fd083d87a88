"""The plug-in contract checks of ``prunebench.testing``, run over every entry of every registry (a
new built-in is tested by being registered), and shown to fail on plug-ins that break the contract."""
import pytest
import torch

from prunebench import testing
from prunebench.registry import CRITERIA, DATASETS, METHODS, MODELS, REGIMES

from test_data_files import write_cifar10, write_cifar100, write_idx
from test_data_imagefolder import make_tree


@pytest.mark.parametrize("name", CRITERIA.names())
def test_every_criterion_meets_the_contract(name):
    testing.check_criterion(name)


# The ImageNet ResNets are checked at their registered 224 px shape: a few seconds each on a CPU.
@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_meets_the_contract(name):
    testing.check_model(name)


@pytest.mark.parametrize("name", REGIMES.names())
def test_every_regime_meets_the_contract(name):
    testing.check_regime(name)


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_meets_the_contract(name):
    testing.check_method(name)


def _data_fields(name, tmp_path):
    """Small files in each data set's standard format, written here (nothing is downloaded)."""
    if name in ("cifar10", "cifar100"):
        (write_cifar10 if name == "cifar10" else write_cifar100)(tmp_path, n=10)
        return {"data_dir": str(tmp_path), "augment": False}
    if name in ("mnist", "fashion-mnist"):
        write_idx(tmp_path, n_train=20, n_test=6)
        return {"data_dir": str(tmp_path)}
    if name == "imagefolder":
        make_tree(tmp_path, per_class=4)
        return {"data_dir": str(tmp_path), "image_size": 8}
    if name == "mnist1d":
        return {"num_samples": 400}
    return {"num_samples": 60}


def test_the_data_fixtures_cover_every_registered_data_set():
    known = {"cifar10", "cifar100", "mnist", "fashion-mnist", "imagefolder", "mnist1d", "synthetic"}
    assert set(DATASETS.names()) <= known, "a new data set needs small files in _data_fields"


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_meets_the_contract(name, tmp_path, tmp_cache):
    testing.check_dataset(name, **_data_fields(name, tmp_path))


# -- the checks fail on broken plug-ins ------------------------------------------------------------


def _register_criterion(cls):
    from prunebench import register_criterion

    register_criterion(cls)
    return cls.name


def test_check_criterion_catches_wrong_shapes_and_unseeded_randomness():
    from prunebench import Criterion

    class WrongShape(Criterion):
        name, granularities, description = "test-wrong-shape", ("filter",), "one score too many"

        def score(self, inp):
            return torch.zeros(inp.weight.shape[0] + 1)

    class Unseeded(Criterion):
        name, granularities, description = "test-unseeded", ("filter",), "ignores the seed"

        def score(self, inp):
            return torch.rand(inp.weight.shape[0])  # global RNG: differs between calls

    with pytest.raises(Exception, match="shape"):
        testing.check_criterion(_register_criterion(WrongShape))
    with pytest.raises(testing.ContractError, match="same seed gave different scores"):
        testing.check_criterion(_register_criterion(Unseeded))


def test_check_model_catches_an_init_that_ignores_the_seed():
    from prunebench import register_model

    @register_model("test-unseeded-model", input_shape=(4,), num_classes=3)
    def build(input_shape, num_classes, *, generator):
        torch.manual_seed(0)  # ignores the generator it is given: every seed gives the same weights
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))

    with pytest.raises(testing.ContractError, match="seeds 0 and 1 gave identical weights"):
        testing.check_model("test-unseeded-model")


def test_check_regime_catches_a_snapshot_it_does_not_keep():
    from prunebench import Regime, Resolved, register_regime
    from prunebench.pipeline.regimes.base import recipe

    @register_regime
    class Forgetful(Regime):
        name, description = "test-forgetful", "starts from base epoch 1 but asks for no snapshot"
        example = {"epochs": 2}

        def resolve(self, spec, ctx):
            return Resolved("snapshot", 1, recipe(spec, ctx, 2, "0:0.01"), 1)

    with pytest.raises(testing.ContractError, match="which its snapshots"):
        testing.check_regime("test-forgetful")


def test_check_dataset_catches_a_loader_that_hands_out_a_cached_tensor(monkeypatch):
    # Training loads with compact=True, which compacts the training part inside the loader's tensor:
    # a loader that returns the same tensor every call would see its cache overwritten.
    from prunebench.data import RawData, register_dataset

    g = torch.Generator().manual_seed(0)
    cache = [torch.randint(0, 256, (20, 1, 4, 4), generator=g, dtype=torch.uint8),
             torch.arange(20) % 2, torch.randint(0, 256, (6, 1, 4, 4), generator=g, dtype=torch.uint8),
             torch.arange(6) % 2]
    name = "cached-bytes-test"
    DATASETS.names()  # built-ins first; then registrations below are undone after the test
    for table in ("_items", "_meta", "_origin"):
        monkeypatch.setattr(DATASETS, table, dict(getattr(DATASETS, table)))
    register_dataset(name, kind="image", description="returns one cached tensor")(
        lambda spec: RawData(name, "image", 2, *cache))
    with pytest.raises(testing.ContractError, match="same train_x tensor memory"):
        testing.check_dataset(name, val_fraction=0.25)
    # The same loader returning fresh copies meets the contract.
    monkeypatch.setitem(DATASETS._items, name, lambda spec: RawData(name, "image", 2, *(t.clone() for t in cache)))
    testing.check_dataset(name, val_fraction=0.25)


def test_check_method_fails_a_stage_that_records_nothing():
    from prunebench.pruning.methods.base import Hooks
    from prunebench.pruning.methods.sfp import SFP

    class Silent(SFP):  # an SFP whose hooks forget to record the stage's columns
        def hooks(self, args, model, ctx):
            inner = super().hooks(args, model, ctx)

            class H(Hooks):
                zeroed = property(lambda self: inner.zeroed)

                def on_train_start(self, state):
                    inner.on_train_start(state)

            return H()

    from prunebench.registry import METHODS

    METHODS._items["silent-test"] = type("SilentTest", (Silent,), {"name": "silent-test"})
    try:
        with pytest.raises(testing.ContractError, match="lacks reg/sparsity/macs"):
            testing.check_method("silent-test", {"epochs": 1})
    finally:
        del METHODS._items["silent-test"]

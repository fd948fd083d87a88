"""Data registry, mnist1d generation/cache, synthetic data, validation split and normalisation."""
import random

import numpy as np
import pytest
import torch

from prunebench.config import DataSpec
from prunebench.data import DATASETS, DataBundle, load_data
from prunebench.data import mnist1d_gen
from prunebench.data.bundle import channel_stats, split_indices
from prunebench.errors import ConfigError, DataError


def test_registry_names_and_unknown_name():
    assert {"mnist1d", "cifar10", "cifar100", "mnist", "fashion-mnist", "synthetic"} <= set(DATASETS.names())
    with pytest.raises(ConfigError, match="valid: .*mnist1d"):
        DataSpec(name="imagenet-22k")


def test_mnist1d_small_is_deterministic_cached_and_leaves_global_rng_alone(tmp_cache):
    np.random.seed(123)
    random.seed(7)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    a, hit_a = mnist1d_gen.load_arrays(200)
    assert not hit_a
    assert (np.random.get_state()[1] == np_before).all() and random.getstate() == py_before
    files = list((tmp_cache / "mnist1d").glob("*.npz"))
    assert len(files) == 1 and "n200" in files[0].name
    b, hit_b = mnist1d_gen.load_arrays(200)
    assert hit_b
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert a["x"].shape == (160, 40) and a["x_test"].shape == (40, 40)

    # A damaged cache file is regenerated, giving the same bits.
    files[0].write_bytes(b"not a zip file")
    c, hit_c = mnist1d_gen.load_arrays(200)
    assert not hit_c and np.array_equal(c["x"], a["x"])


def test_mnist1d_matches_package_generator_and_shapes(tmp_cache):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 300
    state = np.random.get_state()
    ref = make_dataset(args)
    np.random.set_state(state)
    small = load_data(DataSpec(name="mnist1d", num_samples=300, normalize=False))  # the raw generator output
    assert torch.equal(small.test_x[:, 0], torch.from_numpy(ref["x_test"].astype(np.float32)))
    assert torch.equal(small.test_y, torch.from_numpy(ref["y_test"]).long())
    train_ref = torch.from_numpy(ref["x"].astype(np.float32))
    assert torch.equal(torch.cat([small.train_x, small.val_x])[:, 0].sort(0).values, train_ref.sort(0).values)

    b1 = load_data(DataSpec(name="mnist1d"))
    b2 = load_data(DataSpec(name="mnist1d"))
    assert b1.kind == "signal" and b1.input_shape == (1, 40) and b1.num_classes == 10
    # 5000 examples -> 4000 train (400 of them val) + 1000 test
    assert (len(b1.train_x), len(b1.val_x), len(b1.test_x)) == (3600, 400, 1000)
    for f in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(b1, f), getattr(b2, f))
    # Normalised with the training part's statistics only (the generator's own standardisation used
    # the test examples too): the training part is exactly centred, the test part only roughly.
    assert b1.mean is not None and len(b1.mean) == 1
    assert abs(float(b1.train_x.mean())) < 1e-5 and abs(float(b1.train_x.std(unbiased=False)) - 1) < 1e-4
    assert abs(float(b1.test_x.mean())) > 1e-5
    assert b1.train_x.dtype == torch.float32 and b1.train_y.dtype == torch.int64


def test_mnist1d_num_samples_override(tmp_cache):
    b = load_data(DataSpec(name="mnist1d", num_samples=300, val_fraction=0.2))
    assert (len(b.train_x), len(b.val_x), len(b.test_x)) == (192, 48, 60)


def test_split_sizes_disjoint_and_fixed_by_split_seed():
    tr, va = split_indices(50, 0.1, seed=3)
    assert len(tr) == 45 and len(va) == 5
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(50))
    tr2, va2 = split_indices(50, 0.1, seed=3)
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    _, va3 = split_indices(50, 0.1, seed=4)
    assert not torch.equal(va, va3)
    tr0, va0 = split_indices(50, 0.0, seed=3)
    assert len(va0) == 0 and torch.equal(tr0, torch.arange(50))
    with pytest.raises(DataError, match="toy: val_fraction 0.9 leaves no training examples"):
        split_indices(2, 0.9, seed=0, name="toy")


def test_bundle_parts_are_disjoint_rows_of_the_training_set():
    spec = DataSpec(name="synthetic", input_shape=(4,), num_classes=3, num_samples=40, normalize=False)
    b = load_data(spec)
    raw = DATASETS.get("synthetic")(spec)
    assert (len(b.train_x), len(b.val_x)) == (36, 4)
    rows = {tuple(r.tolist()) for r in raw.train_x}
    train_rows = {tuple(r.tolist()) for r in b.train_x}
    val_rows = {tuple(r.tolist()) for r in b.val_x}
    assert train_rows | val_rows == rows and not (train_rows & val_rows)
    assert torch.equal(b.test_x, raw.test_x) and b.kind == "vector" and b.mean is None


def test_synthetic_defaults_seeded_and_balanced():
    b = load_data(DataSpec(name="synthetic"))
    assert b.kind == "image" and b.input_shape == (3, 8, 8) and b.num_classes == 10
    assert len(b.train_x) + len(b.val_x) == 512 and len(b.test_x) == 128
    assert torch.bincount(b.test_y, minlength=10).tolist() == [13] * 8 + [12] * 2
    again = load_data(DataSpec(name="synthetic"))
    other = load_data(DataSpec(name="synthetic", split_seed=1))
    assert torch.equal(b.train_x, again.train_x) and not torch.equal(b.train_x, other.train_x)
    sig = load_data(DataSpec(name="synthetic", input_shape=(2, 16), num_classes=4))
    assert sig.kind == "signal" and sig.input_shape == (2, 16)


def test_synthetic_is_learnable_by_a_tiny_linear_model():
    b = load_data(DataSpec(name="synthetic", num_samples=512))
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(192, 10)
    with torch.no_grad():
        model.weight.copy_(torch.randn(10, 192, generator=gen) * 0.01)
        model.bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(b.train_x.flatten(1)), b.train_y).backward()
        opt.step()
    acc = (model(b.test_x.flatten(1)).argmax(1) == b.test_y).float().mean().item()
    assert acc > 0.6  # chance is 0.1; the clusters overlap by design, so not 1.0 either


def test_normalisation_uses_training_part_only():
    b = load_data(DataSpec(name="synthetic", input_shape=(2, 3, 3), num_classes=2, num_samples=64))
    mean, std = channel_stats(b.train_x, "image")
    assert torch.allclose(mean, torch.zeros(2, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(std, torch.ones(2, dtype=torch.float64), atol=1e-5)
    assert len(b.mean) == 2 and len(b.std) == 2
    # Undoing the recorded stats gives back the raw training rows.
    raw = DATASETS.get("synthetic")(DataSpec(name="synthetic", input_shape=(2, 3, 3), num_classes=2,
                                             num_samples=64))
    undone = b.test_x * torch.tensor(b.std).view(1, 2, 1, 1) + torch.tensor(b.mean).view(1, 2, 1, 1)
    assert torch.allclose(undone, raw.test_x, atol=1e-5)


def test_channel_stats_hand_checked():
    x = torch.tensor([[[0.0, 2.0]], [[4.0, 6.0]]])  # (N=2, C=1, L=2): values 0, 2, 4, 6
    mean, std = channel_stats(x, "signal")
    assert mean.tolist() == [3.0] and std.item() == pytest.approx(5 ** 0.5)


def test_spec_shape_mismatch_is_a_data_error(tmp_cache):
    with pytest.raises(DataError, match=r"input_shape is \(3, 32, 32\) but the data has \(1, 40\)"):
        load_data(DataSpec(name="mnist1d", num_samples=100, input_shape=(3, 32, 32)))


def test_bundle_to_moves_every_tensor():
    b = load_data(DataSpec(name="synthetic", input_shape=(5,), num_classes=2, num_samples=20))
    moved = b.to("cpu")
    assert isinstance(moved, DataBundle) and moved.input_shape == (5,)
    assert moved is not b and torch.equal(moved.val_x, b.val_x)

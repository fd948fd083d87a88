"""uint8 storage of 8-bit images (normalised per batch) gives bit-identical batches and training to
the float32 storage; 8-bit channel statistics from histograms equal the direct ones; the in-place
split equals indexing."""
from __future__ import annotations

import pytest
import torch

from prunebench.config import DataSpec, TrainSpec
from prunebench.data import load_data
from prunebench.data.bundle import _split_in_place, _to_float, channel_stats, uint8_channel_stats
from prunebench.models import build_model
from prunebench.train.loop import accuracy, train

from prunebench.data.bundle import split_indices

from test_data_files import raw_cifar, write_cifar10, write_idx


def _pair(spec):
    return load_data(spec), load_data(spec, compact=True)


def test_uint8_storage_prepares_bit_identical_inputs(tmp_path):
    write_cifar10(tmp_path, n=30)
    plain, compact = _pair(DataSpec(name="cifar10", data_dir=str(tmp_path), val_fraction=0.2))
    assert compact.compact and not plain.compact
    assert compact.train_x.dtype == torch.uint8 and compact.train_x.element_size() * 4 == plain.train_x.element_size()
    assert compact.mean == plain.mean and compact.std == plain.std
    for part in ("train", "val", "test"):
        stored, floats = getattr(compact, f"{part}_x"), getattr(plain, f"{part}_x")
        assert torch.equal(compact.prepare(stored), floats), part
        assert torch.equal(compact.prepare(stored[7:19]), floats[7:19]), part  # any slice, same bits
        assert torch.equal(getattr(compact, f"{part}_y"), getattr(plain, f"{part}_y"))
    assert plain.prepare(plain.train_x) is plain.train_x  # float storage: nothing to do
    # Both equal the float path written out by hand: scale to [0, 1] in float32, then normalise with
    # the float32 statistics of the training part.
    raw = raw_cifar(tmp_path)
    train_idx, _ = split_indices(len(raw.train_x), 0.2, 0, "cifar10")
    ref = raw.train_x[train_idx].float() / 255.0
    dm, ds = channel_stats(ref, "image")
    assert torch.equal(torch.tensor(compact.mean).float(), dm.float())
    ref = (ref - dm.float().view(1, 3, 1, 1)) / ds.float().view(1, 3, 1, 1)
    assert torch.equal(compact.prepare(compact.train_x), ref)


def test_uint8_storage_trains_bit_identically(tmp_path, tmp_cache):
    write_cifar10(tmp_path, n=24)
    plain, compact = _pair(DataSpec(name="cifar10", data_dir=str(tmp_path), val_fraction=0.25))
    recipe = TrainSpec(epochs=2, lr_schedule="0:0.05,1:0.01", batch_size=16, seed=3)
    weights, accs = [], []
    for data in (plain, compact):
        model = build_model("vgg11", data.input_shape, data.num_classes, seed=0)
        out = train(model, data, recipe, augment="crop-flip")  # augmentation runs on the prepared batch
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        accs.append((out.history[-1]["train_loss"], accuracy(model, data.test_x, data.test_y, prepare=data.prepare)))
    assert torch.equal(weights[0], weights[1])
    assert accs[0] == accs[1]


def test_mnist_idx_compact_equals_float(tmp_path):
    write_idx(tmp_path, n_train=20, n_test=6)
    plain, compact = _pair(DataSpec(name="mnist", data_dir=str(tmp_path), val_fraction=0.25))
    assert compact.train_x.dtype == torch.uint8
    assert torch.equal(compact.prepare(compact.train_x), plain.train_x)
    assert torch.equal(compact.prepare(compact.test_x), plain.test_x)


def test_float_data_sets_are_unchanged_by_compact(tmp_cache):
    plain, compact = _pair(DataSpec(name="mnist1d", num_samples=200))
    assert compact.train_x.dtype == torch.float32 and torch.equal(compact.train_x, plain.train_x)


@pytest.mark.parametrize("kind,shape", [("image", (3, 5, 4)), ("signal", (2, 9)), ("vector", (6,))])
def test_histogram_channel_stats_equal_the_direct_ones(kind, shape):
    x = torch.randint(0, 256, (301, *shape), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    x[:5] = 0  # extremes present
    x[5:9] = 255
    mean, std = uint8_channel_stats(x, kind)
    dm, ds = channel_stats(_to_float(x), kind)
    assert torch.allclose(mean, dm, rtol=1e-12, atol=0) and torch.allclose(std, ds, rtol=1e-12, atol=0)
    assert torch.equal(mean.float(), dm.float()) and torch.equal(std.float(), ds.float())  # what normalising uses
    small = uint8_channel_stats(x, kind, chunk=7)  # chunking changes nothing, bit for bit
    assert torch.equal(small[0], mean) and torch.equal(small[1], std)
    # Hand-checkable: values 0 and 255 in equal numbers give mean 0.5 and std 0.5 exactly.
    two = torch.tensor([[0], [255], [0], [255]], dtype=torch.uint8)
    m, s = uint8_channel_stats(two, "vector")
    assert m.item() == 0.5 and s.item() == 0.5


def test_split_in_place_equals_indexing():
    g = torch.Generator().manual_seed(0)
    for n, keep_n in ((1, 1), (10, 0), (10, 10), (97, 60), (5000, 4500)):
        x = torch.randint(0, 256, (n, 3, 2), generator=g, dtype=torch.uint8)
        keep = torch.randperm(n, generator=g)[:keep_n].sort().values
        expected = x[keep].clone()
        out = _split_in_place(x, keep, chunk=13)
        assert torch.equal(out, expected) and (keep_n == 0 or out.data_ptr() == x.data_ptr())

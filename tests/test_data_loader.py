"""Batched augmentation (checked against a per-example loop) and the device-resident TensorLoader."""
import pytest
import torch

from prunebench.data import TensorLoader, augmentation_for
from prunebench.data.augment import crop_flip, draw_crop_flip, draw_shift, shift


def naive_crop_flip(x, dy, dx, flipped, pad):
    out = torch.empty_like(x)
    h, w = x.shape[2:]
    for i in range(len(x)):
        img = torch.zeros(x.shape[1], h + 2 * pad, w + 2 * pad, dtype=x.dtype)
        img[:, pad:pad + h, pad:pad + w] = x[i]
        win = img[:, int(dy[i]):int(dy[i]) + h, int(dx[i]):int(dx[i]) + w]
        out[i] = win.flip(-1) if flipped[i] else win
    return out


def naive_shift(x, s):
    out = torch.zeros_like(x)
    length = x.shape[-1]
    for i in range(len(x)):
        for t in range(length):
            if 0 <= t - int(s[i]) < length:
                out[i, :, t] = x[i, :, t - int(s[i])]
    return out


def test_crop_flip_hand_checked():
    x = torch.arange(1, 5, dtype=torch.float32).view(1, 1, 2, 2)  # [[1, 2], [3, 4]]
    # pad 1, window at (0, 0): top-left corner is padding
    out = crop_flip(x, torch.tensor([0]), torch.tensor([0]), torch.tensor([0]), pad=1)
    assert out[0, 0].tolist() == [[0, 0], [0, 1]]
    # centred window, mirrored
    out = crop_flip(x, torch.tensor([1]), torch.tensor([1]), torch.tensor([1]), pad=1)
    assert out[0, 0].tolist() == [[2, 1], [4, 3]]


def test_shift_hand_checked():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    assert shift(x, torch.tensor([1]), max_shift=2)[0, 0].tolist() == [0, 1, 2, 3]
    assert shift(x, torch.tensor([-2]), max_shift=2)[0, 0].tolist() == [3, 4, 0, 0]


def test_batched_crop_flip_equals_naive_loop():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 6, 5, generator=gen)
    dy, dx, flipped = draw_crop_flip(16, gen, pad=4)
    assert dy.min() >= 0 and dy.max() <= 8 and set(flipped.tolist()) <= {0, 1}
    assert torch.equal(crop_flip(x, dy, dx, flipped, pad=4), naive_crop_flip(x, dy, dx, flipped, pad=4))


def test_batched_shift_equals_naive_loop():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(32, 2, 40, generator=gen)
    s = draw_shift(32, gen, max_shift=4)
    assert s.min() >= -4 and s.max() <= 4 and len(set(s.tolist())) > 3
    assert torch.equal(shift(x, s, max_shift=4), naive_shift(x, s))


def test_augmentation_for_kinds_and_reproducibility():
    assert augmentation_for("image", False) is None and augmentation_for("vector", True) is None
    with pytest.raises(ValueError, match="unknown data kind"):
        augmentation_for("video", True)
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    aug = augmentation_for("image", True)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    sig = augmentation_for("signal", True)(torch.randn(4, 1, 40), torch.Generator().manual_seed(0))
    assert sig.shape == (4, 1, 40)


def test_loader_covers_every_example_once_per_epoch():
    x = torch.arange(10, dtype=torch.float32).view(10, 1)
    y = torch.arange(10)
    loader = TensorLoader(x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert len(loader) == 4
    epochs = [[yb for _, yb in loader] for _ in range(2)]
    for batches in epochs:
        assert [len(b) for b in batches] == [3, 3, 3, 1]
        assert sorted(torch.cat(batches).tolist()) == list(range(10))
    assert not torch.equal(torch.cat(epochs[0]), torch.cat(epochs[1]))  # a new order each epoch
    for xb, yb in loader:
        assert torch.equal(xb[:, 0].long(), yb)  # inputs and labels stay paired


def test_loader_same_seed_same_order_and_drop_last():
    x, y = torch.randn(11, 2), torch.arange(11)

    def order(seed):
        return torch.cat([yb for _, yb in TensorLoader(x, y, 4, shuffle=True,
                                                       generator=torch.Generator().manual_seed(seed))])

    assert torch.equal(order(3), order(3)) and not torch.equal(order(3), order(4))
    dropped = TensorLoader(x, y, 4, drop_last=True)
    assert len(dropped) == 2 and [yb.tolist() for _, yb in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_loader_applies_augmentation_with_its_own_generator():
    x = torch.randn(6, 1, 40, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(6, dtype=torch.long)
    aug = augmentation_for("signal", True)
    loader = TensorLoader(x, y, 6, augment=aug, aug_generator=torch.Generator().manual_seed(2))
    (xb, _), = list(loader)
    s = draw_shift(6, torch.Generator().manual_seed(2))
    assert torch.equal(xb, shift(x, s))


def test_loader_refuses_implicit_randomness():
    x, y = torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="explicit torch.Generator"):
        TensorLoader(x, y, 2, shuffle=True)
    with pytest.raises(ValueError, match="aug_generator"):
        TensorLoader(x, y, 2, augment=augmentation_for("vector", True) or (lambda a, g: a))
    with pytest.raises(ValueError, match="examples"):
        TensorLoader(x, y[:3], 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("gen_device", ["cpu", "cuda"])
def test_loader_on_cuda(gen_device):
    x = torch.randn(50, 3, 8, 8, device="cuda")
    y = torch.arange(50, device="cuda")
    loader = TensorLoader(x, y, 16, shuffle=True, generator=torch.Generator(gen_device).manual_seed(0),
                          augment=augmentation_for("image", True),
                          aug_generator=torch.Generator(gen_device).manual_seed(1))
    seen = []
    for xb, yb in loader:
        assert xb.device.type == "cuda" and yb.device.type == "cuda" and xb.shape[1:] == (3, 8, 8)
        seen.append(yb)
    assert sorted(torch.cat(seen).tolist()) == list(range(50))
    if gen_device == "cpu":  # a CPU generator gives the same order whatever the data's device
        cpu = TensorLoader(x.cpu(), y.cpu(), 16, shuffle=True, generator=torch.Generator().manual_seed(0))
        assert torch.equal(torch.cat(seen).cpu(), torch.cat([yb for _, yb in cpu]))


def test_digits_are_cropped_but_never_mirrored():
    import torch

    from prunebench.data import DATASETS, augmentation_for

    assert DATASETS.meta("mnist")["flip"] is False
    aug = augmentation_for("image", True, flip=False)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, :, 0] = 1.0  # a bar on the left edge; a mirror would move it to the right half
    out = aug(x, torch.Generator().manual_seed(0))
    assert out[..., 5:].sum() == 0 and out.sum() > 0


def test_min_last_folds_a_short_last_batch_into_the_one_before():
    import torch

    from prunebench.data import TensorLoader

    x, y = torch.arange(9.0).reshape(9, 1), torch.arange(9)
    sizes = [len(b) for b, _ in TensorLoader(x, y, 4, min_last=2)]
    assert sizes == [4, 5]
    assert [len(b) for b, _ in TensorLoader(x, y, 4)] == [4, 4, 1]
    assert [len(b) for b, _ in TensorLoader(x[:8], y[:8], 4, min_last=2)] == [4, 4]
    assert torch.equal(torch.cat([b for b, _ in TensorLoader(x, y, 4, min_last=2)]), x)

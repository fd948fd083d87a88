"""Training-loop overhead, measured side by side in one run (ratios, not lone times).

(a) prunebench's epoch (the closed loop with its divergence guard and recording) vs a bare,
    hand-written PyTorch loop doing the same work: shuffle, batched augmentation, forward, backward, step.
(b) TensorLoader vs torch.utils.data.DataLoader over the same tensors with the same augmentation
    (DataLoader the usual way: a Dataset that augments each example, default collation).

Usage: python bench/train_overhead.py [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from prunebench.config import DataSpec, TrainSpec
from prunebench.data import TensorLoader, augmentation_for, load_data
from prunebench.models import build_model
from prunebench.rng import generator
from prunebench.train import DivergenceGuard, train


def bare_epoch(model, opt, x, y, batch, aug, seed):
    g = generator(seed, "bench-order")
    ag = generator(seed, "bench-aug")
    model.train()
    perm = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), batch):
        idx = perm[i : i + batch]
        xb = aug(x[idx], ag) if aug else x[idx]
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def ours_epoch(model, data, spec):
    train(model, data, spec, callbacks=[DivergenceGuard()], device="cpu")


def loop_ratio(model_name, data_spec, repeats):
    data = load_data(data_spec)
    spec = TrainSpec(epochs=1, lr_schedule="0:0.01", batch_size=128)
    aug = augmentation_for(data.kind, True)
    m1 = build_model(model_name, data.input_shape, data.num_classes, seed=0)
    m2 = build_model(model_name, data.input_shape, data.num_classes, seed=0)
    opt = torch.optim.SGD(m2.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    ours, bare = [], []
    ours_epoch(m1, data, spec)  # warm-up both
    bare_epoch(m2, opt, data.train_x, data.train_y, 128, aug, 0)
    for r in range(repeats):
        t = time.perf_counter()
        ours_epoch(m1, data, spec)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare_epoch(m2, opt, data.train_x, data.train_y, 128, aug, r)
        bare.append(time.perf_counter() - t)
    return statistics.median(ours), statistics.median(bare)


class AugmentingDataset(torch.utils.data.Dataset):
    """The common idiom: augment one example at a time in __getitem__."""

    def __init__(self, x, y, aug, seed):
        self.x, self.y, self.aug = x, y, aug
        self.g = generator(seed, "bench-aug-ds")

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.aug(self.x[i : i + 1], self.g)[0], self.y[i]


def loader_ratio(data_spec, repeats):
    data = load_data(data_spec)
    aug = augmentation_for(data.kind, True)
    ds = AugmentingDataset(data.train_x, data.train_y, aug, 0)
    tl, dl = [], []
    for r in range(repeats + 1):
        t = time.perf_counter()
        for _ in TensorLoader(data.train_x, data.train_y, 128, shuffle=True, generator=generator(r, "o"),
                              augment=aug, aug_generator=generator(r, "a")):
            pass
        t_tl = time.perf_counter() - t
        t = time.perf_counter()
        for _ in torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, generator=generator(r, "o")):
            pass
        t_dl = time.perf_counter() - t
        if r:  # the first round is warm-up
            tl.append(t_tl)
            dl.append(t_dl)
    return statistics.median(tl), statistics.median(dl)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} interleaved repeats")
    cases = [("cnn1d", DataSpec(name="mnist1d")), ("resnet20", DataSpec(name="synthetic", input_shape=(3, 32, 32), num_samples=1024))]
    print("(a) prunebench epoch / bare PyTorch epoch (goal <= 1.03)")
    for model_name, ds in cases:
        ours, bare = loop_ratio(model_name, ds, args.repeats)
        print(f"    {model_name:<9} on {ds.name:<9}: ours {ours * 1e3:8.1f} ms  bare {bare * 1e3:8.1f} ms  ratio {ours / bare:.3f}")
    print("(b) DataLoader time / TensorLoader time, same tensors and augmentation (goal >= 1.5)")
    for ds in [DataSpec(name="mnist1d"), DataSpec(name="synthetic", input_shape=(3, 32, 32), num_samples=5000)]:
        tl, dl = loader_ratio(ds, args.repeats)
        print(f"    {ds.name:<9} {str(ds.input_shape or ''):<12}: TensorLoader {tl * 1e3:8.1f} ms  DataLoader {dl * 1e3:8.1f} ms  speedup {dl / tl:.1f}x")


if __name__ == "__main__":
    main()

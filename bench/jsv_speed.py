"""Speed of prunebench's exact mean JSV against the per-example, per-class loop of the authors' style.

Both compute every singular value of each example's logits-by-input Jacobian; prunebench does one
forward pass and one batched backward over the whole batch, the reference does one forward per
example and one ``autograd.grad`` call per class. Both are timed side by side in this run (median
of a few repeats) on CPU and their singular values are compared.

    .venv/bin/python bench/jsv_speed.py [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from prunebench.metrics.trainability import jacobian_singular_values
from prunebench.models import build_model

# (zoo name, input shape, examples): ResNet-20's reference loop is slow, so it gets fewer examples.
CASES = [("mlp7-linear", (1, 40), 100), ("cnn1d", (1, 40), 100), ("resnet20", (3, 32, 32), 20)]


def reference_svs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Authors' style: for each example, one forward, then one backward per class."""
    model.eval()
    rows = []
    for example in inputs:
        x = example.unsqueeze(0).requires_grad_(True)
        out = model(x)[0]
        jac = torch.stack([
            torch.autograd.grad(out[c], x, retain_graph=c + 1 < out.numel())[0].flatten()
            for c in range(out.numel())
        ])
        rows.append(torch.linalg.svdvals(jac))
    return torch.stack(rows)


def _timed(fn) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_case(name: str, shape: tuple[int, ...], n: int, repeats: int) -> dict:
    model = build_model(name, seed=0).eval()
    inputs = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
    jacobian_singular_values(model, inputs[:2])  # warm-up: first-call allocations and dispatch
    ours_t, ref_t = [], []
    # Alternate the two methods so that load from other processes hits both alike.
    for _ in range(repeats):
        t, ours = _timed(lambda: jacobian_singular_values(model, inputs))
        ours_t.append(t)
        t, ref = _timed(lambda: reference_svs(model, inputs))
        ref_t.append(t)
    ours_s, ref_s = statistics.median(ours_t), statistics.median(ref_t)
    return {
        "model": name, "n": n, "ours_s": ours_s, "ref_s": ref_s, "ratio": ref_s / ours_s,
        "max_abs_diff": (ours - ref).abs().max().item(), "mean_jsv": ours.mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), median of {args.repeats} repeats, float32")
    print(f"{'model':<12} {'N':>4} {'prunebench s':>13} {'per-example s':>14} {'speedup':>8} "
          f"{'max |ds|':>10} {'mean JSV':>10}")
    for name, shape, n in CASES:
        r = run_case(name, shape, n, args.repeats)
        print(f"{r['model']:<12} {r['n']:>4} {r['ours_s']:>13.4f} {r['ref_s']:>14.4f} {r['ratio']:>7.1f}x "
              f"{r['max_abs_diff']:>10.2e} {r['mean_jsv']:>10.4g}")


if __name__ == "__main__":
    main()

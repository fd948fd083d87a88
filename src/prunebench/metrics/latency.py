"""Measured inference latency: warm-up, repeats, median and spread, with the conditions stated.

A MACs ratio is a theoretical speedup; what a pruned model gains in wall-clock time depends on the
device, batch size, thread count and memory layout, so each measurement carries all four.
"""
from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model: nn.Module,
    input_shape: tuple[int, ...] | list[int],
    *,
    batch_size: int = 1,
    threads: int | None = 1,
    warmup: int = 5,
    repeats: int = 30,
    channels_last: bool = False,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Time ``model`` on a random batch (eval mode, no grad). Returns median/min/max/IQR in ms plus
    the conditions. The caller's model is not modified (a copy is moved / re-laid-out)."""
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ConfigError(f"latency: batch_size and repeats must be >= 1 and warmup >= 0 (got {batch_size}, {repeats}, {warmup})")
    if threads is not None and threads < 1:
        raise ConfigError(f"latency: threads must be >= 1, got {threads}")
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    net = copy.deepcopy(model).to(device).eval()
    x = torch.randn((batch_size, *input_shape), generator=torch.Generator().manual_seed(0)).to(device)
    if channels_last:
        if x.dim() != 4:
            raise ConfigError(f"latency: channels_last needs 4-d inputs (N, C, H, W), got input shape {list(input_shape)}")
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        times = _run(net, x, device, warmup, repeats)
    finally:
        torch.set_num_threads(old_threads)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
        "iqr_ms": q[2] - q[0], "repeats": repeats, "warmup": warmup, "batch_size": batch_size,
        "threads": torch.get_num_threads() if threads is None else threads, "channels_last": channels_last,
        "device": _device_name(device),
    }


def _run(net: nn.Module, x: torch.Tensor, device: torch.device, warmup: int, repeats: int) -> list[float]:
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            net(x)
        _sync(device)
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            _sync(device)
            times.append((time.perf_counter() - start) * 1e3)
    return times


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()})"

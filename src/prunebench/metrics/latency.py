"""Measured inference latency: warm-up, repeats, median and spread, with the conditions stated.

A MACs ratio is a theoretical speedup; what a pruned model gains in wall-clock time depends on the
device, batch size, thread count and memory layout, so each measurement carries them (the thread
count only on the CPU, where it matters). On a GPU the time of each repeat comes from CUDA events
around the forward pass, with cuDNN's benchmark mode on for the measurement (the warm-up lets it
pick its kernels); at batch size 1 a GPU mostly waits for kernel launches, which the result says.
"""
from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

#: Said when a GPU is timed at batch size 1.
BATCH1_GPU = ("batch size 1 on a GPU times kernel launches more than arithmetic; a pruned model's "
              "gain shows at larger batches (--batch-size)")


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
    the conditions (``threads`` on the CPU only; ``threads`` is not used on a GPU). ``device``: a
    name (``cpu``, ``cuda``, ``cuda:N``, ``auto``; a missing GPU is an error) or a torch.device;
    default: the model's. The caller's model is not modified (a copy is moved / re-laid-out)."""
    from ..devices import resolve_device

    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ConfigError(f"latency: batch_size and repeats must be >= 1 and warmup >= 0 (got {batch_size}, {repeats}, {warmup})")
    if threads is not None and threads < 1:
        raise ConfigError(f"latency: threads must be >= 1, got {threads}")
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = resolve_device(device if isinstance(device, str) else str(torch.device(device)))  # a missing GPU: one line
    net = copy.deepcopy(model).to(device).eval()
    x = torch.randn((batch_size, *input_shape), generator=torch.Generator().manual_seed(0)).to(device)
    if channels_last:
        if x.dim() != 4:
            raise ConfigError(f"latency: channels_last needs 4-d inputs (N, C, H, W), got input shape {list(input_shape)}")
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if device.type == "cuda":
        times = _run_cuda(net, x, device, warmup, repeats)
    else:
        old_threads = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            used = torch.get_num_threads()
            times = _run(net, x, device, warmup, repeats)
        finally:
            torch.set_num_threads(old_threads)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    out: dict[str, Any] = {
        "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
        "iqr_ms": q[2] - q[0], "repeats": repeats, "warmup": warmup, "batch_size": batch_size,
        "channels_last": channels_last, "device": _device_name(device),
    }
    if device.type == "cuda":
        out["timing"] = "cuda-events"
        out["cudnn_benchmark"] = True
        if batch_size == 1:
            out["warning"] = BATCH1_GPU
    else:
        out["timing"] = "perf_counter"
        out["threads"] = used
    return out


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


def _run_cuda(net: nn.Module, x: torch.Tensor, device: torch.device, warmup: int, repeats: int) -> list[float]:
    """CUDA events around each forward pass (the GPU's own clock, not the host's), benchmark mode
    on inside (restored after)."""
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        with torch.inference_mode(), torch.cuda.device(device):
            for _ in range(max(warmup, 1)):  # at least one: benchmark mode picks kernels on the first call
                net(x)
            torch.cuda.synchronize(device)
            pairs = []
            for _ in range(repeats):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                net(x)
                end.record()
                pairs.append((start, end))
            torch.cuda.synchronize(device)
            return [start.elapsed_time(end) for start, end in pairs]
    finally:
        torch.backends.cudnn.benchmark = old


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()})"

"""Devices, placement and numerical precision: where a run computes and how exactly.

* ``cuda_device_count()``: the GPUs this process can see (tests replace it to fake a GPU machine).
* ``resolve_device(name)``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` as a ``torch.device``; a GPU
  that is not there, ``cuda`` without a GPU and ``mps`` are one-line errors.
* ``gpu_slots(workers, gpus, per_gpu)``: which GPU each pool worker gets.
* ``precision(deterministic, tf32)``: the determinism and TF32 flags of a training run, set on entry
  and restored on exit; ``full_fp32()``: TF32 and autocast off (prune checks, JSV).
* ``cuda_provenance(device)``: the physical GPU, the CUDA and cuDNN versions, the visible devices.

What is bit-identical where is stated in docs/architecture.md ("Devices, determinism, precision").
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import torch

from .errors import ConfigError

#: cuBLAS needs a fixed workspace to be deterministic; it reads this before its first use.
CUBLAS_WORKSPACE = ":4096:8"

MPS_REFUSED = ("device 'mps' is not supported: prunebench accumulates in float64 (epoch losses, the "
               "Jacobian singular values), which MPS lacks; use cpu or cuda")


def cuda_device_count() -> int:
    """How many CUDA devices this process sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device_name(name: str, gpus: int, where: str = "device") -> str:
    """``name`` checked against a machine (or cluster) with ``gpus`` GPUs; returns the device a run
    gets there: ``auto`` becomes ``cuda`` or ``cpu``, everything else stays as written."""
    base, _, index = name.partition(":")
    if base == "mps":
        raise ConfigError(f"{where}: {MPS_REFUSED}")
    if base == "auto":
        return "cuda" if gpus > 0 else "cpu"
    if base != "cuda":
        return name
    if gpus == 0:
        raise ConfigError(f"{where}: {name!r} asked for, but no CUDA device is available (use cpu or auto)")
    if index and int(index) >= gpus:
        have = "cuda:0" if gpus == 1 else f"cuda:0 to cuda:{gpus - 1}"
        raise ConfigError(f"{where}: {name!r} asked for, but there {'is' if gpus == 1 else 'are'} {gpus} "
                          f"CUDA device(s) ({have})")
    return name


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when it is there, else the CPU; a missing GPU or ``mps`` is an error."""
    resolved = check_device_name(name, cuda_device_count())
    if resolved.startswith("cuda"):
        set_cublas_workspace()
    return torch.device(resolved)


def gpu_slots(workers: int, gpus: list[int], per_gpu: int) -> list[int]:
    """The GPU of each of ``workers`` pool slots: spread over ``gpus`` round-robin (slot s gets
    ``gpus[s % len(gpus)]``), at most ``per_gpu`` slots per GPU."""
    if per_gpu < 1:
        raise ConfigError(f"--workers-per-gpu must be >= 1, got {per_gpu}")
    if workers > len(gpus) * per_gpu:
        raise ConfigError(f"--workers {workers} is more than {len(gpus)} GPU(s) x --workers-per-gpu {per_gpu}; "
                          "raise --workers-per-gpu to pack several runs on one GPU")
    return [gpus[s % len(gpus)] for s in range(workers)]


_CUBLAS_LATE = [False]  # set once CUDA had started before the workspace was chosen (recorded)


def set_cublas_workspace() -> None:
    """Give cuBLAS its deterministic workspace unless the user chose one (before CUDA starts)."""
    if "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            _CUBLAS_LATE[0] = True
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE


def precision_flags() -> dict[str, Any]:
    """The determinism and precision flags in force in this process."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "cublas_workspace_set_after_cuda_start": _CUBLAS_LATE[0],
    }


def _get_flags() -> tuple:
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def _set_flags(flags: tuple) -> None:
    algorithms, warn_only, cudnn_det, benchmark, tf32_mm, tf32_conv = flags
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn_det
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cuda.matmul.allow_tf32 = tf32_mm
    torch.backends.cudnn.allow_tf32 = tf32_conv


@contextlib.contextmanager
def precision(deterministic: bool, tf32: bool) -> Iterator[dict[str, Any]]:
    """The flags of one training run; yields :func:`precision_flags` as set, restores the old ones.

    ``deterministic``: cuDNN deterministic kernels, benchmark mode off, deterministic algorithms
    (warn-only: an op without a deterministic kernel warns instead of failing), cuBLAS workspace
    fixed. Off: cuDNN may pick the fastest kernel (benchmark on). ``tf32``: TF32 for matmuls and
    convolutions on GPUs that have it; off, both run in full FP32. On the CPU none of these changes
    a result (CPU kernels are deterministic and have no TF32)."""
    old = _get_flags()
    if deterministic:
        set_cublas_workspace()
    _set_flags((deterministic, True, deterministic, not deterministic, tf32, tf32))
    try:
        yield precision_flags()
    finally:
        _set_flags(old)


@contextlib.contextmanager
def full_fp32(device: torch.device | str | None = None) -> Iterator[None]:
    """Full FP32 inside: TF32 off for matmuls and convolutions, autocast disabled (the prune checks
    and the JSV measurement, whatever the training run uses)."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    kind = torch.device(device).type if device is not None else "cpu"
    try:
        with torch.autocast(kind if kind in ("cpu", "cuda") else "cpu", enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def autocast(kind: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast of a training step: ``none`` (full precision) or ``bf16``."""
    if kind == "none":
        return contextlib.nullcontext()
    if kind == "bf16":
        if device.type not in ("cpu", "cuda"):
            raise ConfigError(f"autocast bf16 is supported on cpu and cuda, not {device.type}")
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"autocast bf16 asked for, but {torch.cuda.get_device_name(device)} has no bfloat16 support")
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ConfigError(f"autocast must be none or bf16, got {kind!r}")


def free_cuda_cache() -> None:
    """Give the memory a finished job's tensors cached back to the driver (a pool worker's next job,
    other processes on the GPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


def visible_devices() -> str | None:
    """``CUDA_VISIBLE_DEVICES`` of this process (what a pool worker or Ray task was given)."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def cuda_provenance(device: torch.device | str) -> dict[str, Any]:
    """The physical GPU behind ``device`` and the CUDA software; on the CPU only what was visible."""
    device = torch.device(device)
    info: dict[str, Any] = {"cuda_visible_devices": visible_devices()}
    if device.type != "cuda" or not torch.cuda.is_available():
        return info
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    info.update(
        gpu_name=props.name,
        gpu_uuid=str(getattr(props, "uuid", "")) or None,
        gpu_memory_bytes=int(props.total_memory),
        gpu_capability=f"{props.major}.{props.minor}",
        cuda_version=torch.version.cuda,
        cudnn_version=torch.backends.cudnn.version(),
    )
    return info

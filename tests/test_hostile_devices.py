"""Devices that are not there, through the CLI: one line, exit 2, nothing half-written (tests/hostile.py).

The GPU count the driver sees is faked (``devices.cuda_device_count``); no CUDA call is made before
the error, so these run on a CPU machine.
"""
from __future__ import annotations

import json

import pytest

from hostile import Case, check_case
from prunebench import devices
from test_study_spec import edited, write

SMALL = {
    "data": {"name": "synthetic", "input_shape": [1, 12], "num_classes": 3, "num_samples": 192},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16}},
    "train": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
}


def study(device, *extra):
    def setup(tmp_path):
        return ["run", write(tmp_path, edited(device=device)), "--out", tmp_path / "out", *extra]
    return setup


def train(*flags):
    def setup(tmp_path):
        (tmp_path / "s.yaml").write_text(json.dumps(SMALL))
        return ["train", "--config", tmp_path / "s.yaml", "--out", tmp_path / "m", *flags]
    return setup


def inspect(*flags):
    return lambda tmp_path: ["inspect", "--model", "mlp", "--input-shape", "8", "--classes", "3", *flags]


CASES = [  # (case, GPUs the driver sees)
    (Case("study cuda, no GPU", study("cuda"), "no CUDA device is available"), 0),
    (Case("study cuda:3 on 2 GPUs", study("cuda:3", "--workers", "2"), "there are 2 CUDA device(s)"), 2),
    (Case("study cuda:1 in-process on 1 GPU", study("cuda:1"), "there is 1 CUDA device(s)"), 1),
    (Case("study mps", study("mps"), "mps is not supported"), 0),
    (Case("study cuda:x", study("cuda:x"), "cuda:N"), 0),
    (Case("workers-per-gpu on the CPU", study("auto", "--workers", "2", "--workers-per-gpu", "2"),
          "--workers-per-gpu packs GPU runs"), 0),
    (Case("workers-per-gpu in-process", study("cuda", "--workers-per-gpu", "2"), "--workers-per-gpu packs GPU runs"), 1),
    (Case("more workers than GPU slots", study("cuda", "--workers", "5", "--workers-per-gpu", "2"),
          "--workers 5 is more than 2 GPU(s) x --workers-per-gpu 2"), 2),
    (Case("workers-per-gpu 0", study("cuda", "--workers", "2", "--workers-per-gpu", "0"), "--workers-per-gpu must be >= 1"), 2),
    (Case("train cuda, no GPU", train("--device", "cuda"), "no CUDA device is available"), 0),
    (Case("train cuda:2 on 2 GPUs", train("--device", "cuda:2"), "there are 2 CUDA device(s)"), 2),
    (Case("train mps", train("--device", "mps"), "mps is not supported"), 0),
    (Case("latency cuda, no GPU", inspect("--latency", "--device", "cuda"), "no CUDA device is available"), 0),
    (Case("latency mps", inspect("--latency", "--device", "mps"), "'mps' is not supported"), 0),
    (Case("latency threads on a GPU", inspect("--latency", "--device", "cuda", "--threads", "2"), "--threads is the CPU's"), 1),
]


@pytest.mark.parametrize("case, gpus", CASES, ids=[c.name for c, _ in CASES])
def test_device_errors(case, gpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(devices, "cuda_device_count", lambda: gpus)
    check_case(case, tmp_path, capsys)

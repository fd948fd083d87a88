"""Devices on a CPU machine: placement with a faked GPU count, device errors, precision flags, bf16.

The pool tests run real spawned workers; a faked count only changes what the driver believes the
machine has, so a job placed on a "GPU" really runs in a worker without CUDA and fails with the
one-line error that says so: its provenance shows where it was placed.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch

from prunebench import devices
from prunebench.config import TrainRunSpec, TrainSpec, validate
from prunebench.errors import ConfigError
from prunebench.study import Store, run_study
from prunebench.study.executors import PoolExecutor, make_executor
from test_study_spec import edited, write

SMALL = {
    "data": {"name": "synthetic", "input_shape": [1, 12], "num_classes": 3, "num_samples": 192},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 16, "activation": "relu"}},
    "train": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 32},
}


def small(**train) -> TrainRunSpec:
    fields = json.loads(json.dumps(SMALL))
    fields["train"].update(train)
    return validate(TrainRunSpec, fields)


@pytest.fixture
def fake_gpus(monkeypatch):
    """The driver believes the machine has N GPUs (the workers it spawns know better)."""
    def fake(n):
        monkeypatch.setattr(devices, "cuda_device_count", lambda: n)
    return fake


# -- device names and errors ------------------------------------------------------------------


def test_auto_resolves_to_the_gpus_the_machine_has():
    assert devices.check_device_name("auto", 0) == "cpu"
    assert devices.check_device_name("auto", 2) == "cuda"
    assert devices.check_device_name("cuda:1", 2) == "cuda:1"
    assert devices.check_device_name("cpu", 2) == "cpu"


@pytest.mark.parametrize("name, gpus, says", [
    ("cuda", 0, "no CUDA device is available"),
    ("cuda:0", 0, "no CUDA device is available"),
    ("cuda:2", 2, "there are 2 CUDA device(s) (cuda:0 to cuda:1)"),
    ("cuda:1", 1, "there is 1 CUDA device(s) (cuda:0)"),
    ("mps", 0, "'mps' is not supported"),
])
def test_devices_that_are_not_there_are_one_line_errors(name, gpus, says):
    with pytest.raises(ConfigError) as err:
        devices.check_device_name(name, gpus)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_resolve_device_uses_the_device_count(fake_gpus):
    fake_gpus(2)
    assert devices.resolve_device("cuda:1") == torch.device("cuda:1")  # a torch.device; no CUDA call
    with pytest.raises(ConfigError, match="there are 2 CUDA"):
        devices.resolve_device("cuda:5")


@pytest.mark.parametrize("device, says", [("mps", "mps is not supported"), ("cuda:x", "cuda:N"), ("cpu:0", "cuda:N")])
def test_spec_refuses_unsupported_devices(device, says):
    with pytest.raises(ConfigError, match=says):
        validate(TrainRunSpec, {"train": {"device": device}})


# The CLI's device errors (one line, exit 2, nothing written): tests/test_hostile_devices.py.


# -- placement --------------------------------------------------------------------------------


def test_slots_spread_over_the_gpus():
    assert devices.gpu_slots(4, [0, 1], 2) == [0, 1, 0, 1]
    assert devices.gpu_slots(3, [0, 1, 2], 1) == [0, 1, 2]
    assert devices.gpu_slots(2, [0, 1, 2, 3], 1) == [0, 1]  # fewer workers than GPUs: one each
    with pytest.raises(ConfigError, match="more than 2 GPU"):
        devices.gpu_slots(3, [0, 1], 1)


def _lock_waiters(inodes: set[int]) -> int:
    """Processes blocked on an flock of one of these inodes (Linux /proc/locks: '-> FLOCK' lines)."""
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and "FLOCK" in fields and int(fields[-3].split(":")[-1]) in inodes:
            count += 1
    return count


def _base_payload(out: Path, device: str, requested: str) -> dict:
    spec = small(device=requested)
    return {"run_id": spec.spec_hash(), "kind": "base", "spec": spec.full_json(), "device": device,
            "device_requested": requested, "out": str(out), "base_dir": None, "snapshots": [], "plugins": []}


def run_all_at_once(submit, tmp_path: Path, n: int, device: str, requested: str, timeout: float = 120) -> list[dict]:
    """Submit n jobs whose run locks this test holds, wait until n workers are blocked on them (so n
    are in flight at once, each in its own worker), then let them go; their outcomes."""
    outs = [tmp_path / f"job{i}" / "m" for i in range(n)]
    with ExitStack() as stack:
        inodes = set()
        for out in outs:
            out.parent.mkdir(parents=True)
            fh = stack.enter_context(open(out.parent / f".{out.name}.lock", "a+"))
            fcntl.flock(fh, fcntl.LOCK_EX)
            inodes.add(os.fstat(fh.fileno()).st_ino)
        futures = [submit(_base_payload(out, device, requested)) for out in outs]
        deadline = time.monotonic() + timeout
        while _lock_waiters(inodes) < n:
            assert time.monotonic() < deadline, f"only {_lock_waiters(inodes)} of {n} jobs got a worker"
            time.sleep(0.2)
    return [f.result(timeout=timeout) for f in futures]


def test_pool_workers_get_a_slot_and_their_own_gpu(tmp_path):
    ex = PoolExecutor(4, 1, gpus=[0, 1], workers_per_gpu=2)
    try:
        assert ex.device("auto") == "cuda" and ex.device("cuda:1") == "cuda"  # "a GPU": the worker's own
        outcomes = run_all_at_once(ex.submit, tmp_path, 4, ex.device("auto"), "auto")
    finally:
        ex.shutdown()
    prov = [o["provenance"] for o in outcomes]
    assert sorted(p["pool_slot"] for p in prov) == [0, 1, 2, 3]  # four workers, four slots
    assert len({p["pid"] for p in prov}) == 4
    for p in prov:  # slot s sees GPU s % 2, and only that one
        assert p["cuda_visible_devices"] == str(p["pool_slot"] % 2)
        assert p["device_requested"] == "auto" and p["device"] == "cuda"
    # This machine has no GPU: the job placed on one fails, saying so in one line.
    assert all(o["status"] == "failed" and "no CUDA device is available" in o["error"] for o in outcomes)


def test_a_cpu_pool_hides_no_gpu_and_runs_the_job(tmp_path):
    ex = make_executor("local", workers=2, devices_asked=["auto"])  # no GPU here: auto is the CPU
    try:
        assert ex.slot_gpus == [] and ex.device("auto") == "cpu"
        (outcome,) = run_all_at_once(ex.submit, tmp_path, 1, "cpu", "auto")
    finally:
        ex.shutdown()
    assert outcome["status"] == "done"
    assert outcome["provenance"]["device_requested"] == "auto" and outcome["provenance"]["device"] == "cpu"
    assert outcome["provenance"]["cuda_visible_devices"] == os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.slow
def test_study_on_auto_is_placed_on_the_gpus_the_driver_sees(tmp_path, fake_gpus):
    fake_gpus(2)
    path = write(tmp_path, edited(device="auto", seeds=[0, 1], ratios=[0.5], arms=[{"name": "l1"}]))
    assert run_study(path, tmp_path / "out", workers=2, progress=False, quiet=True) == 1
    store = Store.open(tmp_path / "out")
    bases = [r for r in store.rows() if r["kind"] == "base"]
    assert bases and all(r["device"] == "auto" for r in bases)  # the spec keeps what was written
    for r in bases:
        prov = r["provenance"]
        assert prov["device_requested"] == "auto" and prov["device"] == "cuda"
        assert prov["cuda_visible_devices"] == str(prov["pool_slot"] % 2)
        assert "no CUDA device is available" in r["error"]


# -- precision and determinism ----------------------------------------------------------------


def test_new_precision_fields_at_their_default_keep_the_run_id():
    plain = TrainRunSpec().spec_hash()
    assert TrainRunSpec(train=TrainSpec(deterministic=True, tf32=False, autocast="none")).spec_hash() == plain
    ids = {TrainRunSpec(train=TrainSpec(**kw)).spec_hash() for kw in ({"deterministic": False}, {"tf32": True}, {"autocast": "bf16"})}
    assert len(ids) == 3 and plain not in ids


def test_precision_sets_the_flags_and_restores_them():
    before = devices.precision_flags()
    with devices.precision(True, False) as flags:
        assert flags["deterministic_algorithms"] and flags["deterministic_warn_only"]
        assert flags["cudnn_deterministic"] and not flags["cudnn_benchmark"]
        assert not flags["tf32_matmul"] and not flags["tf32_cudnn"]
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == flags["cublas_workspace_config"]
        assert torch.are_deterministic_algorithms_enabled()
    with devices.precision(False, True) as flags:
        assert not flags["deterministic_algorithms"] and flags["cudnn_benchmark"]
        assert flags["tf32_matmul"] and flags["tf32_cudnn"]
    after = devices.precision_flags()
    assert {k: after[k] for k in after if k != "cublas_workspace_config"} == \
        {k: before[k] for k in before if k != "cublas_workspace_config"}


def test_full_fp32_turns_tf32_off_inside():
    with devices.precision(False, True):
        with devices.full_fp32():
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_a_run_records_the_flags_it_trained_with(tmp_path):
    from prunebench.train.run import train_dense

    result = train_dense(small(tf32=True, deterministic=False), tmp_path / "a")
    assert result["precision"]["tf32_matmul"] and result["precision"]["tf32_cudnn"]
    assert not result["precision"]["deterministic_algorithms"] and result["precision"]["autocast"] == "none"
    result = train_dense(small(), tmp_path / "b")
    assert result["precision"]["deterministic_algorithms"] and result["precision"]["cudnn_deterministic"]
    assert not result["precision"]["tf32_matmul"]
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's process is left as it was


def test_study_provenance_records_device_and_flags(tmp_path):
    path = write(tmp_path, edited(seeds=[0], ratios=[0.5], arms=[{"name": "l1"}]))
    assert run_study(path, tmp_path / "out", progress=False, quiet=True) == 0
    for row in Store.open(tmp_path / "out").rows():
        prov = row["provenance"]
        assert prov["device_requested"] == "cpu" and prov["device"] == "cpu"
        assert prov["precision"]["deterministic_algorithms"] is True and prov["precision"]["tf32_cudnn"] is False
        assert "cuda_visible_devices" in prov


def test_cpu_results_do_not_depend_on_the_determinism_flags(tmp_path):
    """On the CPU the flags change nothing: the same weights with and without (only the id differs)."""
    from prunebench.train.run import train_dense

    train_dense(small(), tmp_path / "a")
    train_dense(small(deterministic=False, tf32=True), tmp_path / "b")
    assert (tmp_path / "a/weights.safetensors").read_bytes() == (tmp_path / "b/weights.safetensors").read_bytes()


def test_bf16_autocast_trains_on_the_cpu_and_evaluates_in_fp32(tmp_path):
    from prunebench.loading import load_model
    from prunebench.train import accuracy
    from prunebench.train.run import prepare, train_dense

    fp32 = train_dense(small(), tmp_path / "fp32")
    bf16 = train_dense(small(autocast="bf16"), tmp_path / "bf16")
    again = train_dense(small(autocast="bf16"), tmp_path / "again")
    assert bf16["run_id"] != fp32["run_id"] and bf16["precision"]["autocast"] == "bf16"
    assert (tmp_path / "bf16/weights.safetensors").read_bytes() == (tmp_path / "again/weights.safetensors").read_bytes()
    assert (tmp_path / "bf16/weights.safetensors").read_bytes() != (tmp_path / "fp32/weights.safetensors").read_bytes()
    model, _ = load_model(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay FP32
    data, _, _ = prepare(small(autocast="bf16"))
    # The recorded test accuracy is the FP32 evaluation of the trained weights.
    assert bf16["test_acc"] == accuracy(model, data.test_x, data.test_y, prepare=data.prepare)


class Recorder(torch.nn.Module):
    """A small MLP that notes, at every forward pass, its mode and the precision in force."""

    def __init__(self, d_in: int, classes: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d_in, 8), torch.nn.ReLU(), torch.nn.Linear(8, classes))
        self.calls: list[tuple[bool, bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_autocast_enabled("cpu"),
                           torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32))
        return self.net(x)


def test_bf16_autocast_covers_the_training_steps_only():
    from prunebench.data import load_data
    from prunebench.train import EvaluateCallback, train

    spec = small(autocast="bf16", epochs=1)
    data = load_data(spec.data)
    model = Recorder(12, 3)
    train(model, data, spec.train, callbacks=[EvaluateCallback()], device="cpu")
    steps = [c for c in model.calls if c[0]]
    evals = [c for c in model.calls if not c[0]]
    assert steps and evals
    assert all(autocast for _, autocast, _ in steps)  # every training step under bf16 autocast
    assert not any(autocast for _, autocast, _ in evals)  # evaluation in FP32


def test_jsv_and_the_prune_check_run_in_full_fp32_whatever_training_uses():
    from prunebench.metrics.trainability import jsv_stats
    from prunebench.pruning.structured import check_equivalent

    model = Recorder(12, 3)
    x = torch.randn(4, 1, 12, generator=torch.Generator().manual_seed(0))
    with devices.precision(False, True), torch.autocast("cpu", dtype=torch.bfloat16):
        jsv_stats(model, x)
        check_equivalent(model, model, dict(model.named_parameters()), x, "check")
        model(x)  # outside the measurements, the run's settings hold
    *measured, outside = model.calls
    assert measured and not any(autocast or tf32 for _, autocast, tf32 in measured)
    assert outside[1] and outside[2]


def test_dry_run_says_where_the_runs_would_compute(tmp_path, capsys, fake_gpus):
    from prunebench.cli import main

    path = write(tmp_path, edited(device="auto"))
    fake_gpus(2)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert "devices on this machine (2 GPU(s)): auto -> cuda" in capsys.readouterr().out
    fake_gpus(0)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert "devices on this machine (0 GPU(s)): auto -> cpu" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()

"""The Ray executor on a local Ray instance started by the test."""
from __future__ import annotations

import pytest

from prunebench.errors import ConfigError
from prunebench.report.writer import results_csv
from prunebench.study import Store, run_study, study_rows
from prunebench.study.executors import make_executor
from test_study_spec import edited, write

try:
    import ray
except ImportError:  # the optional extra is not installed: say so in the test report
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="ray is not installed (pip install 'prunebench[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    # Declared GPUs: Ray hands them to tasks that ask (CUDA_VISIBLE_DEVICES) although none is there.
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@needs_ray
def test_ray_executor_gives_the_same_results_as_local(tmp_path, local_ray):
    path = write(tmp_path, edited(seeds=[0, 1], ratios=[0.5]))
    assert run_study(path, tmp_path / "local", progress=False) == 0
    assert run_study(path, tmp_path / "ray", executor="ray", threads=1, progress=False) == 0
    assert results_csv(study_rows(tmp_path / "ray")) == results_csv(study_rows(tmp_path / "local"))
    store = Store.open(tmp_path / "ray")
    assert [a["outcome"] for a in store.attempts()] == ["done"] * 6
    assert all(r["provenance"]["threads"] == 1 for r in store.rows())
    assert ray.is_initialized()  # the executor joined the running instance and left it running


@needs_ray
def test_ray_slots_follow_the_cluster(local_ray):
    ex = make_executor("ray", threads=2)
    assert ex.slots == 1  # 2 CPUs / 2 threads per run
    assert make_executor("ray", workers=3).slots == 3


def test_address_needs_ray_executor():
    with pytest.raises(ConfigError, match="--address is for --executor ray"):
        make_executor("local", address="auto")


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"needs Ray: pip install 'prunebench\[ray\]'"):
        make_executor("ray")


@needs_ray
def test_ray_gpu_jobs_get_distinct_gpus_and_auto_is_resolved(tmp_path, local_ray):
    from test_devices import run_all_at_once

    ex = make_executor("ray", devices_asked=["auto"])
    assert ex.gpus == 2 and ex.device("auto") == "cuda" and ex.device("cuda:1") == "cuda"
    assert ex.task_options("cuda") == {"num_cpus": 1, "max_retries": 0, "num_gpus": 1.0}
    assert ex.task_options("cpu")["num_gpus"] == 0
    assert ex.remote_for("cuda") is not ex.remote_for("cpu")
    assert make_executor("ray", workers_per_gpu=2, devices_asked=["cuda"]).task_options("cuda")["num_gpus"] == 0.5
    with pytest.raises(ConfigError, match="there are 2 CUDA"):
        make_executor("ray", devices_asked=["cuda:2"])
    outcomes = run_all_at_once(ex.submit, tmp_path, 2, ex.device("auto"), "auto")
    prov = [o["provenance"] for o in outcomes]
    assert sorted(p["cuda_visible_devices"] for p in prov) == ["0", "1"]  # two tasks at once, two GPUs
    assert sorted(g for p in prov for g in p["ray_gpu_ids"]) == ["0", "1"]
    assert all(p["device_requested"] == "auto" and p["device"] == "cuda" for p in prov)
    assert all("no CUDA device is available" in o["error"] for o in outcomes)  # none is really there
    # max_calls=1: a GPU task's worker exits after it, so the next GPU task gets a fresh process.
    again = run_all_at_once(ex.submit, tmp_path / "again", 2, "cuda", "auto")
    assert not {o["provenance"]["pid"] for o in again} & {p["pid"] for p in prov}


DRIVER = """
import json, sys, time
import ray
from prunebench.study.executors import RayExecutor
from prunebench.study.raycleanup import head_processes
ex = RayExecutor(num_cpus=1)
print(json.dumps(head_processes(ray)), flush=True)
time.sleep(600)
"""


@needs_ray
@pytest.mark.slow
def test_a_killed_driver_leaves_no_local_ray_cluster_behind(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from prunebench.study.raycleanup import _start_time, descendants

    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, cwd=tmp_path)
    try:
        heads = json.loads(driver.stdout.readline())
        assert heads, "the driver started no local cluster"
        time.sleep(2)  # the raylet starts its agents
        procs = {pid: _start_time(pid) for pid in descendants(heads)}
        assert len(procs) > len(heads)  # agents and workers below the raylet
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_start_time(p) == s for p, s in procs.items()):
            time.sleep(0.2)
        left = [p for p, s in procs.items() if _start_time(p) == s]
        assert left == [], f"still running after the driver was killed: {left}"
    finally:
        if driver.poll() is None:
            driver.kill()

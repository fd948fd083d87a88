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
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
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

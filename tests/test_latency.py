import pytest
from torch import nn

from prunebench.errors import ConfigError
from prunebench.metrics.latency import measure


def test_measure_states_its_conditions():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    r = measure(model, (3, 8, 8), batch_size=2, threads=1, warmup=1, repeats=5, channels_last=True)
    assert r["repeats"] == 5 and r["batch_size"] == 2 and r["threads"] == 1 and r["channels_last"] is True
    assert r["device"].startswith("cpu") and 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
    assert r["iqr_ms"] >= 0
    assert next(model.parameters()).is_contiguous()  # the caller's model is not re-laid-out


def test_bad_arguments():
    with pytest.raises(ConfigError, match="channels_last needs 4-d inputs"):
        measure(nn.Linear(3, 2), (3,), channels_last=True, repeats=1)
    with pytest.raises(ConfigError, match="repeats must be >= 1"):
        measure(nn.Linear(3, 2), (3,), repeats=0)


def test_threads_are_reported_for_the_cpu_with_the_timer():
    r = measure(nn.Linear(3, 2), (3,), threads=2, warmup=0, repeats=2, device="cpu")
    assert r["threads"] == 2 and r["timing"] == "perf_counter" and "warning" not in r


@pytest.mark.parametrize("device, says", [("cuda", "no CUDA device is available"), ("mps", "'mps' is not supported")])
def test_latency_on_a_device_that_is_not_there(device, says, monkeypatch):
    import torch

    from prunebench import devices

    monkeypatch.setattr(devices, "cuda_device_count", lambda: 0)
    with pytest.raises(ConfigError, match=says):
        measure(nn.Linear(3, 2), (3,), repeats=1, device=device)
    with pytest.raises(ConfigError, match=says):  # a torch.device is checked the same way
        measure(nn.Linear(3, 2), (3,), repeats=1, device=torch.device(device))


@pytest.mark.parametrize("argv, says", [
    (["--latency", "--device", "cuda"], "no CUDA device is available"),
    (["--latency", "--device", "cuda:1"], "no CUDA device is available"),
    (["--latency", "--device", "mps"], "'mps' is not supported"),
    (["--device", "cpu"], "--device sets up the latency measurement; add --latency"),
    (["--batch-size", "8", "--threads", "2"], "--batch-size, --threads set up the latency measurement; add --latency"),
    (["--channels-last"], "--channels-last sets up the latency measurement"),
    (["--latency", "--batch-size", "0"], "--batch-size must be at least 1"),
])
def test_inspect_latency_device_errors_are_one_line(argv, says, capsys):
    from prunebench.cli import main

    assert main(["inspect", "--model", "mlp", "--input-shape", "8", "--classes", "3", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prunebench: error:") and says in err[0], err


def test_inspect_latency_on_the_cpu_names_its_threads(capsys):
    import json

    from prunebench.cli import main

    assert main(["inspect", "--model", "mlp", "--input-shape", "8", "--classes", "3", "--latency", "--device", "cpu",
                 "--threads", "2", "--json"]) == 0
    lat = json.loads(capsys.readouterr().out)["latency"]
    assert lat["threads"] == 2 and lat["device"].startswith("cpu")


def test_threads_are_refused_for_a_gpu(capsys, monkeypatch):
    from prunebench import devices
    from prunebench.cli import main

    monkeypatch.setattr(devices, "cuda_device_count", lambda: 1)  # refused before any CUDA call
    assert main(["inspect", "--model", "mlp", "--input-shape", "8", "--classes", "3", "--latency", "--device", "cuda",
                 "--threads", "2"]) == 2
    assert "--threads is the CPU's thread count" in capsys.readouterr().err

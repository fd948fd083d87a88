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

import os

import pytest
import torch

# Tests run on CPU with one thread: results are deterministic and the suite does not fight itself.
torch.set_num_threads(1)
os.environ.setdefault("PRUNEBENCH_PROGRESS", "0")


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A private data cache directory for tests that generate or download-free load data."""
    d = tmp_path / "cache"
    monkeypatch.setenv("PRUNEBENCH_CACHE", str(d))
    return d

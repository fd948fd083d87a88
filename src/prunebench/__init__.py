"""prunebench: fair, reproducible benchmarking of neural-network pruning."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ConfigError, DataError, PrunebenchError  # noqa: E402

__all__ = ["__version__", "PrunebenchError", "ConfigError", "DataError"]

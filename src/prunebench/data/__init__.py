"""Data sets (one registry), the DataBundle they become, and the device-resident TensorLoader.

Importing this package registers every built-in data set; config.DataSpec validates names against
:data:`DATASETS`.
"""
from .augment import augmentation_for
from .base import DATASETS, RawData, cache_dir, register_dataset
from .bundle import DataBundle, load_data
from .loader import TensorLoader

# Each module registers its loaders on import.
from . import cifar, idx, imagefolder, mnist1d_gen, synthetic  # noqa: E402,F401  isort: skip

__all__ = ["DATASETS", "DataBundle", "RawData", "TensorLoader", "augmentation_for", "cache_dir", "load_data", "register_dataset"]

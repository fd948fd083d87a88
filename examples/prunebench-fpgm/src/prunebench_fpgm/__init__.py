"""prunebench-fpgm: the FPGM criterion and a small residual 1D CNN, registered as prunebench plug-ins."""
from . import criterion, model  # noqa: F401  (importing registers them)

__version__ = "0.1.0"

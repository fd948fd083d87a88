"""The single-run pipeline: base model -> prune -> reinit -> retrain under a regime."""
from .regimes import REGIMES, Regime, estimated_epochs, register_regime, resolve, scratch_b_epochs, snapshot_epochs
from .run import base_dir_for, prepare_base, run_pipeline, train_base
from .spec import BaseSpec, PipelineSpec, RegimeSpec

__all__ = [
    "REGIMES",
    "Regime",
    "estimated_epochs",
    "register_regime",
    "BaseSpec",
    "PipelineSpec",
    "RegimeSpec",
    "base_dir_for",
    "prepare_base",
    "resolve",
    "run_pipeline",
    "scratch_b_epochs",
    "snapshot_epochs",
    "train_base",
]

"""Retraining regimes: the contract (``base``) and the built-ins (``builtin``, ``literature``); see base.py."""
from .base import (
    DEFAULT_REGIME, PARAM_FIELDS, SCHEDULE_FIELDS, Regime, RegimeContext, Resolved, estimated_epochs, get_regime,
    register_regime, resolve, snapshot_epochs,
)
from .builtin import scratch_b_epochs, squeezed_epoch, stretch
from .literature import allr_lr, norm_drop
from ...registry import REGIMES

__all__ = [
    "DEFAULT_REGIME", "PARAM_FIELDS", "REGIMES", "allr_lr", "norm_drop", "SCHEDULE_FIELDS", "Regime", "RegimeContext", "Resolved",
    "estimated_epochs", "get_regime", "register_regime", "resolve", "scratch_b_epochs", "snapshot_epochs",
    "squeezed_epoch", "stretch",
]

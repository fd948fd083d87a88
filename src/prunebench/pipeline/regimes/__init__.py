"""Retraining regimes: the contract (``base``) and the built-ins (``builtin``); see base.py."""
from .base import (
    DEFAULT_REGIME, PARAM_FIELDS, SCHEDULE_FIELDS, Regime, RegimeContext, Resolved, estimated_epochs, get_regime,
    register_regime, resolve, snapshot_epochs,
)
from .builtin import scratch_b_epochs, squeezed_epoch, stretch
from ...registry import REGIMES

__all__ = [
    "DEFAULT_REGIME", "PARAM_FIELDS", "REGIMES", "SCHEDULE_FIELDS", "Regime", "RegimeContext", "Resolved",
    "estimated_epochs", "get_regime", "register_regime", "resolve", "scratch_b_epochs", "snapshot_epochs",
    "squeezed_epoch", "stretch",
]

"""The one training loop (closed: behaviour enters through callbacks) and the runs built on it."""
from .callbacks import CheckpointCallback, DivergenceGuard, EvaluateCallback, ProgressCallback, load_checkpoint
from .loop import Callback, TrainOutcome, TrainState, accuracy, resolve_device, train

__all__ = [
    "Callback",
    "CheckpointCallback",
    "DivergenceGuard",
    "EvaluateCallback",
    "ProgressCallback",
    "TrainOutcome",
    "TrainState",
    "accuracy",
    "load_checkpoint",
    "resolve_device",
    "train",
]

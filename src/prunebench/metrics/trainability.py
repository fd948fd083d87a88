"""Trainability metrics: Jacobian singular values (mean JSV), trainability accuracy, convergence check.

Definitions follow paper-notes §2:

* **Mean JSV**: for each example the Jacobian of the logits (no softmax) with respect to the
  flattened input, ``C x D``; all its ``min(C, D)`` singular values, averaged over examples and
  values. Dynamical isometry means they are all close to 1.
* **Trainability accuracy (TA)**: the mean of the per-epoch accuracy over the first LR stage.
* **Convergence at the first decay**: is accuracy still rising when the first LR stage ends? If so,
  the first decay came too early (the paper's recommendation 6).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from ..errors import PrunebenchError
from ..modes import eval_mode

#: Default slope (accuracy per epoch) a rise must exceed to count. With accuracies as fractions in
#: [0, 1] this is 0.1 percentage point per epoch; pass ``threshold=0.1`` for percents.
RISING_THRESHOLD = 1e-3
#: Default window: the last 10 epochs of the first stage (all of it if shorter). Per-epoch accuracy
#: on 1,000 examples carries binomial noise of about 1 point (sqrt(0.9 * 0.1 / 1000)); over 5 epochs
#: that gives the least-squares slope a standard error of about 3e-3 per epoch, three times the
#: threshold, over 10 epochs about 1e-3.
RISING_WINDOW = 10
#: One-sided confidence level of "still rising": the slope's lower confidence bound must be > 0.
RISING_CONFIDENCE = 0.95


class MetricError(PrunebenchError):
    """A metric was asked of data that cannot give it (too few epochs, empty input, ...)."""


# ----------------------------------------------------------------------------------------------
# Jacobian singular values



def _model_dtype_device(model: nn.Module, inputs: Tensor) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype, p.device
    return (inputs.dtype if inputs.is_floating_point() else torch.get_default_dtype()), inputs.device


def _chunk_jacobian(model: nn.Module, x: Tensor) -> Tensor:
    """Jacobians ``[n, C, D]`` of one chunk: one forward pass, then one backward per class over the
    whole chunk. Summing a class's logit over the chunk is exact because, in eval mode, example i's
    logits do not depend on example j's input, so d(sum_j out[j, c]) / d x[i] = d out[i, c] / d x[i].
    (A single vmapped backward, ``is_grads_batched=True``, measured 1.5x slower on the zoo's conv nets.)"""
    n = x.shape[0]
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(x).reshape(n, -1)
    classes = out.shape[1]
    seed = torch.zeros_like(out)
    rows = []
    for c in range(classes):
        seed.zero_()
        seed[:, c] = 1.0
        (grad,) = torch.autograd.grad(out, x, seed, retain_graph=c + 1 < classes)
        rows.append(grad.reshape(n, -1))
    return torch.stack(rows, dim=1)


def input_jacobians(model: nn.Module, inputs: Tensor, *, chunk: int | None = None) -> Tensor:
    """Per-example Jacobians of the logits w.r.t. the flattened input: ``[N, C, D]``.

    Measured in eval mode in the model's dtype and on its device, in full FP32 (TF32 and autocast
    off); the model's train/eval modes are
    restored afterwards and no ``.grad`` is written to its parameters. ``chunk`` bounds how many
    examples go through one forward/backward (memory); ``None`` takes them all at once.
    """
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise MetricError(f"inputs must be a non-empty batch [N, ...], got shape {tuple(inputs.shape)}")
    if chunk is not None and chunk < 1:
        raise MetricError(f"chunk must be a positive number of examples, got {chunk}")
    dtype, device = _model_dtype_device(model, inputs)
    x_all = inputs.to(device=device, dtype=dtype)
    step = chunk or x_all.shape[0]
    from ..devices import full_fp32

    with eval_mode(model), full_fp32(device):  # never TF32 or autocast, whatever training uses
        parts = [_chunk_jacobian(model, x_all[i:i + step]) for i in range(0, x_all.shape[0], step)]
    return torch.cat(parts)


def jacobian_singular_values(model: nn.Module, inputs: Tensor, *, chunk: int | None = None) -> Tensor:
    """All singular values of each example's input-output Jacobian: ``[N, min(C, D)]``, descending.

    See :func:`input_jacobians` for how the Jacobians are measured.
    """
    return torch.linalg.svdvals(input_jacobians(model, inputs, chunk=chunk)).detach()


def jsv_stats(model: nn.Module, inputs: Tensor, *, chunk: int | None = None) -> dict[str, float]:
    """Summary of the Jacobian singular values over ``inputs`` as plain floats.

    ``mean``, ``std`` (population std, over all examples x values), ``min``, ``max``; ``cond``: mean over
    examples of max/min singular value (``inf`` if an example's Jacobian is rank-deficient); ``dev``:
    mean of (s - 1)^2, the distance from dynamical isometry; ``n``: number of examples.
    """
    s = jacobian_singular_values(model, inputs, chunk=chunk).double()
    return {
        "mean": s.mean().item(),
        "std": s.std(correction=0).item(),
        "min": s.min().item(),
        "max": s.max().item(),
        "cond": (s[:, 0] / s[:, -1]).mean().item(),
        "dev": (s - 1).pow(2).mean().item(),
        "n": int(s.shape[0]),
    }


# ----------------------------------------------------------------------------------------------
# Accuracy-curve metrics


def _first_stage(accs: Sequence[float], first_stage_epochs: int) -> list[float]:
    """The accuracies of the first LR stage. Fewer recorded epochs than the stage is an error rather
    than a silent average over what is there: a TA over a shorter window is not comparable."""
    if isinstance(first_stage_epochs, bool) or not isinstance(first_stage_epochs, int) or first_stage_epochs < 1:
        raise MetricError(f"first_stage_epochs must be a positive integer, got {first_stage_epochs!r}")
    if len(accs) < first_stage_epochs:
        raise MetricError(
            f"first LR stage has {first_stage_epochs} epochs but only {len(accs)} accuracies were recorded"
        )
    return [float(a) for a in accs[:first_stage_epochs]]


def trainability_accuracy(accs: Sequence[float], first_stage_epochs: int) -> float:
    """T = (1/N) sum_{i=1..N} Acc_i over the first LR stage (N = ``first_stage_epochs`` epochs).

    ``accs[i]`` is the accuracy at the end of epoch i+1 (0-based list); entries after the first stage
    are ignored. Raises :class:`MetricError` if fewer than N epochs were recorded. The result is in
    the units of ``accs`` (fraction or percent); it is only comparable under the same LR schedule.
    """
    stage = _first_stage(accs, first_stage_epochs)
    return math.fsum(stage) / len(stage)


def _ls_slope(ys: Sequence[float]) -> float:
    """Least-squares slope of ys against 0, 1, 2, ... (units of y per epoch)."""
    n = len(ys)
    x_mean = (n - 1) / 2
    y_mean = math.fsum(ys) / n
    num = math.fsum((i - x_mean) * (y - y_mean) for i, y in enumerate(ys))
    den = math.fsum((i - x_mean) ** 2 for i in range(n))
    return num / den


def _slope_se(ys: Sequence[float], slope: float) -> float:
    """Standard error of the least-squares slope (needs at least 3 points)."""
    n = len(ys)
    x_mean, y_mean = (n - 1) / 2, math.fsum(ys) / n
    residuals = [y - (y_mean + slope * (i - x_mean)) for i, y in enumerate(ys)]
    den = math.fsum((i - x_mean) ** 2 for i in range(n))
    return math.sqrt(math.fsum(r * r for r in residuals) / (n - 2) / den)


def convergence_at_first_decay(
    accs: Sequence[float], first_stage_epochs: int, window: int = RISING_WINDOW, *,
    threshold: float = RISING_THRESHOLD, confidence: float = RISING_CONFIDENCE,
) -> dict[str, float | bool | int | None]:
    """Was accuracy still rising when the first LR stage ended?

    Fits a least-squares line to the last ``window`` epochs of the first stage (all of the stage if
    it is shorter). ``rising`` needs both: the slope exceeds ``threshold`` (a rise worth acting on)
    and the lower one-sided ``confidence`` bound of the slope (Student t, n - 2 degrees of freedom)
    is above zero (a rise that epoch-to-epoch noise does not explain). With only 2 epochs there is no
    noise estimate and ``threshold`` alone decides. Returns ``rising``, ``slope`` (accuracy units per
    epoch), ``lower`` (the confidence bound, ``None`` with 2 epochs) and ``window`` (epochs used).

    Feed it validation accuracy (or training accuracy without a validation split), never test
    accuracy: a decision about the schedule taken on the test set leaks it.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise MetricError(f"window must be an integer >= 2 epochs, got {window!r}")
    if not 0.5 <= confidence < 1:
        raise MetricError(f"confidence must be in [0.5, 1), got {confidence!r}")
    stage = _first_stage(accs, first_stage_epochs)
    if len(stage) < 2:
        raise MetricError("a first LR stage of 1 epoch has no accuracy slope; need at least 2 epochs")
    tail = stage[-window:]
    slope = _ls_slope(tail)
    lower = None
    if len(tail) >= 3:
        from scipy.stats import t as student_t

        lower = slope - float(student_t.ppf(confidence, len(tail) - 2)) * _slope_se(tail, slope)
    rising = slope > threshold and (lower is None or lower > 0)
    return {"rising": bool(rising), "slope": slope, "lower": lower, "window": len(tail)}


def convergence_curve(history: Sequence[dict]) -> tuple[str, list[float]]:
    """The accuracy curve the convergence check reads: validation accuracy (a split carved from the
    training data) when every epoch has one, else training accuracy; never test accuracy."""
    val = [h.get("val_acc") for h in history]
    if val and all(v is not None for v in val):
        return "val", [float(v) for v in val]
    return "train", [float(h["train_acc"]) for h in history]

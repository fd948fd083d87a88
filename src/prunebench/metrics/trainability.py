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

#: Default slope (accuracy per epoch) above which accuracy counts as still rising. With accuracies
#: as fractions in [0, 1] this is 0.1 percentage point per epoch; pass ``threshold=0.1`` for percents.
RISING_THRESHOLD = 1e-3


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

    Measured in eval mode in the model's dtype and on its device; the model's train/eval modes are
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
    with eval_mode(model):
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


def convergence_at_first_decay(
    accs: Sequence[float], first_stage_epochs: int, window: int = 5, *, threshold: float = RISING_THRESHOLD
) -> dict[str, float | bool | int]:
    """Was accuracy still rising when the first LR stage ended?

    Fits a least-squares line to the last ``window`` epochs of the first stage (all of the stage if
    it is shorter than ``window``). Returns ``rising`` (slope > ``threshold``), ``slope`` (accuracy
    units per epoch) and ``window`` (epochs actually used). The default threshold, 1e-3 per epoch,
    assumes accuracies as fractions (0.1 percentage point per epoch).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise MetricError(f"window must be an integer >= 2 epochs, got {window!r}")
    stage = _first_stage(accs, first_stage_epochs)
    if len(stage) < 2:
        raise MetricError("a first LR stage of 1 epoch has no accuracy slope; need at least 2 epochs")
    tail = stage[-window:]
    slope = _ls_slope(tail)
    return {"rising": bool(slope > threshold), "slope": slope, "window": len(tail)}

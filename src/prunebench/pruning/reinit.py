"""Re-initialisation of a pruned model before retraining (paper-notes §2).

Registered in :data:`REINITS`; apply one with :func:`apply_reinit`:

* ``keep``: leave the inherited weights alone (the ordinary pipeline).
* ``fresh``: the model's own default init for its current (pruned) shapes, from ``seed``. This is
  what scratch training of a pruned architecture needs: default inits depend on tensor shape.
* ``orthp``: orthogonality-preserving re-initialisation. Every Conv/Linear weight is replaced by the
  orthonormal factor of its own QR decomposition, times the activation gain. On a pruned linear MLP
  whose widths never grow this restores dynamical isometry exactly (every JSV = 1).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..registry import REINITS

#: A re-initialiser mutates the model in place: fn(model, seed=..., gain=...).
Reinit = Callable[..., None]


# Layers whose weight OrthP orthogonalises: the first dimension is always the output units.
_ORTH_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def apply_reinit(name: str, model: nn.Module, *, seed: int, gain: float | None = None) -> nn.Module:
    """Re-initialise ``model`` in place with the registered method ``name`` and return it.

    ``seed`` drives any randomness (only ``fresh`` uses it; ``keep`` and ``orthp`` are deterministic).
    ``gain`` is used by ``orthp`` only; ``None`` means :func:`default_gain` of the model.
    """
    REINITS.get(name)(model, seed=seed, gain=gain)
    return model


def default_gain(model: nn.Module) -> float:
    """sqrt(2) if the network uses ReLU, else 1.0 (the gains of paper-notes §2).

    ReLU is recognised from an ``activation == "relu"`` attribute on any submodule (the MLP models
    apply their activation functionally and name it there: "relu" or "linear") or from ``nn.ReLU``
    submodules. Failing both, a model that names another activation gets 1.0; a model that knows its
    input shape (``zoo_args["input_shape"]``, set by ``build_model``) is run once (no grad, eval mode,
    zeros) to see whether it calls a ReLU function, as the zoo's conv nets do in ``forward``.
    A model with none of these signs gets 1.0: pass ``gain`` explicitly for it.
    """
    named = [getattr(m, "activation") for m in model.modules() if isinstance(getattr(m, "activation", None), str)]
    if "relu" in named or any(isinstance(m, nn.ReLU) for m in model.modules()):
        return math.sqrt(2.0)
    if named:  # the model says what it uses, and it is not ReLU: no need to run it
        return 1.0
    shape = (getattr(model, "zoo_args", None) or {}).get("input_shape")
    return math.sqrt(2.0) if shape is not None and _calls_relu(model, tuple(shape)) else 1.0


_RELU_FUNCS = {torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _ReluSpy(TorchFunctionMode):
    """Notes whether any ReLU function runs; everything else passes straight through."""

    seen = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCS:
            self.seen = True
        return func(*args, **(kwargs or {}))


def _calls_relu(model: nn.Module, input_shape: tuple[int, ...]) -> bool:
    # The zoo's conv nets call torch.relu in forward(), invisible to a module scan. Eval mode keeps
    # BatchNorm statistics untouched; the previous modes are put back afterwards.
    modes = [(m, m.training) for m in model.modules()]
    param = next(model.parameters(), None)
    x = torch.zeros(2, *input_shape) if param is None else torch.zeros(
        2, *input_shape, dtype=param.dtype, device=param.device)
    spy = _ReluSpy()
    model.eval()
    try:
        with torch.no_grad(), spy:
            model(x)
    finally:
        for module, training in modes:
            module.training = training
    return spy.seen


@REINITS.register("keep")
def _keep(model: nn.Module, *, seed: int, gain: float | None = None) -> None:
    del model, seed, gain


@REINITS.register("fresh")
def _fresh(model: nn.Module, *, seed: int, gain: float | None = None) -> None:
    """The model's own init, drawn from a private copy of the global RNG seeded with ``seed``.

    ``reset_parameters`` methods draw from the global generator; fork_rng restores its state on exit
    so the caller's randomness is untouched and the result depends on ``seed`` alone.
    """
    del gain
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reset = getattr(model, "reset_parameters", None)
        if callable(reset):
            reset()
        else:
            for module in model.modules():
                if module is not model and callable(getattr(module, "reset_parameters", None)):
                    module.reset_parameters()


def orthonormal_factor(weight: torch.Tensor) -> torch.Tensor:
    """The orthonormal factor of ``weight`` flattened to [out units, fan-in x kernel area].

    A wide matrix (rows < cols) is decomposed through its transpose, so the result always has
    orthonormal rows if rows <= cols and orthonormal columns otherwise. Each column of Q is multiplied
    by sign(R_ii), which makes the factor unique (R with a positive diagonal) and keeps it close to the
    original weight. Computed in float64 and returned in the weight's dtype and shape.
    """
    rows = weight.shape[0]
    mat = weight.detach().reshape(rows, -1).to(torch.float64)
    wide = mat.shape[0] < mat.shape[1]
    q, r = torch.linalg.qr(mat.T if wide else mat, mode="reduced")
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0  # a zero pivot (e.g. a dead unit) has no sign; keep Q's column as is
    q = q * signs
    return (q.T if wide else q).reshape(weight.shape).to(weight.dtype)


@REINITS.register("orthp")
def _orthp(model: nn.Module, *, seed: int, gain: float | None = None) -> None:
    """OrthP on every Linear/Conv weight; biases, BatchNorm and everything else untouched."""
    del seed
    scale = default_gain(model) if gain is None else float(gain)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _ORTH_LAYERS):
                module.weight.copy_(orthonormal_factor(module.weight) * scale)

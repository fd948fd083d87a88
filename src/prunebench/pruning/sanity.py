"""Sanity checks of a criterion's choice (Su et al. 2020, Frankle et al. 2021; methods-notes §H).

Each one keeps something of what the criterion decided and throws the rest away, so that a study can
ask whether the criterion's *choice of units* matters beyond what it kept:

* ``same-ratios-random``: the criterion's per-layer counts, the units drawn at random. Filters: each
  layer keeps the width the criterion gave it, random filters (per-layer filter counts come from the
  ratio spec, so this is uniformly random filters at the same widths); weights: each layer keeps the
  density the criterion gave it (under ``scope: global`` those densities are the criterion's), random
  positions.
* ``shuffled-mask`` (weights only): the criterion's mask, each layer's entries permuted at random
  (Frankle et al.'s layerwise shuffle; the same distribution as ``same-ratios-random`` for weights,
  drawn by permuting the mask itself).
* ``inverted``: the scores negated, so the highest-scoring units are removed instead of the lowest
  (per layer, or globally under ``scope: global``).

Re-initialisation on the mask is not a pruning step: a study's ``sanity: reinit-on-mask`` arm prunes as
the checked arm does and re-initialises with ``reinit: fresh`` (study/sanity.py).

The random draws use ``torch.Generator`` seeded from the prune seed (``rng.derive_seed(seed,
"sanity/LAYER")``), layer by layer: the same spec and seed give the same units.
"""
from __future__ import annotations

import torch

from ..rng import derive_seed

KINDS = ("same-ratios-random", "shuffled-mask", "inverted")


def _gen(seed: int, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, f"sanity/{name}"))


def inverted_scores(scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Negated scores: the lowest-first removal then takes the highest-scoring units."""
    return {name: -s for name, s in scores.items()}


def random_scores(scores: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Scores of the same shapes, uniform at random (a random choice of the same counts)."""
    return {name: torch.rand(s.shape, generator=_gen(seed, name), dtype=torch.float64) for name, s in scores.items()}


def shuffled_masks(masks: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Each layer's keep-mask with its entries permuted at random (the layer's keep count stays)."""
    out = {}
    for name, m in masks.items():
        flat = m.reshape(-1)
        out[name] = flat[torch.randperm(flat.numel(), generator=_gen(seed, name))].reshape(m.shape).clone()
    return out

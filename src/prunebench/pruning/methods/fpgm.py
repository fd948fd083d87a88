"""FPGM (He et al. 2019) as a one-shot criterion: a filter's score is the sum of its Euclidean
distances to every filter of its layer, g(F_i) = sum_j ||F_i - F_j||_2 (the paper's Eq. 4); the
filters closest to the geometric median (lowest g, the most replaceable) are removed first. The
reference's optional pre-selection by norm (``rate_norm`` < 1) is not part of this criterion.
Registered as ``geometric-median``: the name ``fpgm`` belongs to the example plug-in
(examples/prunebench-fpgm), which shows how outside code adds a criterion."""
from __future__ import annotations

import torch

from ..criteria import Criterion, ScoreInput, register_criterion


@register_criterion
class FPGM(Criterion):
    name, granularities = "geometric-median", ("filter",)
    description = "sum of Euclidean distances from each filter to every filter of its layer (He et al. 2019, geometric median)"

    def score(self, inp: ScoreInput) -> torch.Tensor:
        w = inp.weight.reshape(inp.weight.shape[0], -1).double()
        return torch.cdist(w, w).sum(1)

"""FPGM: filter pruning via the geometric median (He et al., CVPR 2019).

Each filter F_j of a layer (flattened) gets the score g(F_j) = sum_k ||F_j - F_k||_2, its summed
Euclidean distance to every filter of the layer. Filters with the smallest g lie nearest the
geometric median of the layer's filters: what they compute the others can best replace, so they are
removed first (prunebench removes the lowest scores). This is "FPGM-only" (no norm-based share).
"""
import torch

import prunebench


@prunebench.register_criterion
class FPGM(prunebench.Criterion):
    name = "fpgm"
    granularities = ("filter",)
    description = "sum of Euclidean distances from each filter to the layer's other filters (FPGM, He et al. 2019)"
    needs = ("weight",)

    def score(self, inp: prunebench.ScoreInput) -> torch.Tensor:
        filters = inp.weight.reshape(inp.weight.shape[0], -1).to(torch.float64)
        return torch.cdist(filters, filters).sum(dim=1)

"""HRank (Lin et al. 2020) as a one-shot criterion: a filter's score is the average rank of its
feature map over the given training batches (the layer's output after its BatchNorm and a ReLU, in
eval mode, as the reference hooks the ReLU after the BN); the filters with the lowest average rank
are removed first. A 1-D feature map is a 1 x L matrix (rank 0 or 1). Deviation: the reference
hooks a ResNet block's last conv after the residual addition; here every layer is read at its own
BN + ReLU. The reference's layer-by-layer fine-tuning stage is not part of this criterion."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import PruneError
from ..criteria import Criterion, ScoreInput, register_criterion


@register_criterion
class HRank(Criterion):
    name, granularities = "hrank", ("filter",)
    description = "mean rank of each filter's feature map (after its BN and a ReLU, eval mode) over the given batches (Lin et al. 2020)"
    needs = ("weight", "bn", "data")

    def score(self, inp: ScoreInput) -> torch.Tensor:
        if not inp.batches:
            raise PruneError("criterion 'hrank' needs data: a few training batches")
        captured: list[torch.Tensor] = []
        handle = inp.module.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
        bn = inp.bn  # read only: applied in its eval form below, its statistics untouched
        was = inp.model.training
        inp.model.eval()
        total, count = None, 0
        try:
            with torch.no_grad():
                device = next(inp.model.parameters()).device
                for x, _ in inp.batches:
                    captured.clear()
                    inp.model(x.to(device))
                    out = captured[0]
                    if bn is not None and getattr(bn, "running_mean", None) is not None:
                        out = F.batch_norm(out, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
                    out = F.relu(out).double()
                    maps = out if out.dim() == 4 else out.reshape(out.shape[0], out.shape[1], 1, -1)
                    ranks = torch.linalg.matrix_rank(maps).double()  # (batch, channels)
                    total = ranks.sum(0) if total is None else total + ranks.sum(0)
                    count += ranks.shape[0]
        finally:
            handle.remove()
            inp.model.train(was)
        return total / count


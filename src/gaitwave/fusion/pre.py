"""Pre-fusion (docs/MATH.md Eq. 2): average the per-part score tensors, then apply the loss once."""

from __future__ import annotations

from torch import Tensor

from gaitwave.fusion.base import Fusion
from gaitwave.losses.base import PartLoss


class PreFusion(Fusion):
    """`L = F(mean_i S_i)`: the loss on the part-mean of its score tensors `S [P, ...]`.

    Triplet: the mean of per-part Euclidean distances; circle: of per-part cosines; softmax: of
    per-part logits (never one distance over concatenated parts). Returned in fp32 (fp64 stays
    fp64); the diagnostics hold one "part" (`[1]`).
    """

    def forward(self, loss: PartLoss, x: Tensor, labels: Tensor) -> Tensor:
        """Loss module, its input `[N, *, P]` and labels `[N]` -> scalar loss."""
        fused_scores = loss.scores(x).mean(dim=0, keepdim=True)
        part_losses = self.as_float(loss.part_losses(fused_scores, labels))
        self.record(part_losses)
        return part_losses[0]

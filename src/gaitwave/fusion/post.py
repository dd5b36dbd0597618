"""Post-fusion (docs/MATH.md Eq. 1): the plain mean of the per-part losses."""

from __future__ import annotations

from torch import Tensor

from gaitwave.fusion.base import Fusion
from gaitwave.losses.base import PartLoss


class PostFusion(Fusion):
    """`L = mean_i F_i` with `F = loss(x, labels)`, returned in fp32 (fp64 stays fp64)."""

    def forward(self, loss: PartLoss, x: Tensor, labels: Tensor) -> Tensor:
        """Loss module, its input `[N, *, P]` and labels `[N]` -> scalar loss."""
        part_losses = self.as_float(loss(x, labels))
        self.record(part_losses)
        return part_losses.mean()

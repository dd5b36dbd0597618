"""Post-fusion (MATH.md Eq. 1): the plain mean of the per-part losses."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PostFusion(nn.Module):
    """`L = mean_i F_i` with `F = loss(x, labels)`, returned in fp32 (fp64 stays fp64).

    After each call, `last_part_losses` (`F`, `[P]`) and `last_weights` (all ones, `[P]`) hold
    detached diagnostics.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_part_losses: Tensor | None = None
        self.last_weights: Tensor | None = None

    def forward(self, loss: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
        """Loss module, its input `[N, *, P]` and labels `[N]` -> scalar loss."""
        part_losses = loss(x, labels)
        part_losses = part_losses.to(torch.promote_types(part_losses.dtype, torch.float32))
        self.last_part_losses = part_losses.detach()
        self.last_weights = torch.ones_like(self.last_part_losses)
        return part_losses.mean()

"""Pre-fusion (MATH.md Eq. 2): average the per-part score tensors, then apply the loss once."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PreFusion(nn.Module):
    """`L = F(mean_i S_i)`: the loss on the part-mean of its score tensors `S [P, ...]`.

    Triplet: the mean of per-part Euclidean distances; circle: of per-part cosines; softmax: of
    per-part logits (never one distance over concatenated parts). Returned in fp32 (fp64 stays
    fp64). After each call, `last_part_losses` (`[1]`) and `last_weights` (`[1]`, one) hold
    detached diagnostics.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_part_losses: Tensor | None = None
        self.last_weights: Tensor | None = None

    def forward(self, loss: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
        """Loss module, its input `[N, *, P]` and labels `[N]` -> scalar loss."""
        fused_scores = loss.scores(x).mean(dim=0, keepdim=True)
        part_losses = loss.part_losses(fused_scores, labels)
        part_losses = part_losses.to(torch.promote_types(part_losses.dtype, torch.float32))
        self.last_part_losses = part_losses.detach()
        self.last_weights = torch.ones_like(self.last_part_losses)
        return part_losses[0]

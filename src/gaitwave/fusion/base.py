"""What the three fusions share: fp32 part losses and detached diagnostics of the last call."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaitwave.losses.base import PartLoss


class Fusion(nn.Module):
    """A reducer over parts: a per-part loss, its input `[N, *, P]` and labels `[N]` -> scalar.

    After each call, `last_part_losses` (`F [P]`) and `last_weights` (`omega [P]`, the gradient
    of the fused loss with respect to F, times P) hold detached diagnostics, read by the
    `FusionDiagnostics` callback.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_part_losses: Tensor | None = None
        self.last_weights: Tensor | None = None

    @staticmethod
    def as_float(part_losses: Tensor) -> Tensor:
        """Part losses in fp32 at least (fp64 stays fp64)."""
        return part_losses.to(torch.promote_types(part_losses.dtype, torch.float32))

    def record(self, part_losses: Tensor, weights: Tensor | None = None) -> None:
        """Keep `F [P]` and `omega [P]` (all ones when omitted) of this call, detached."""
        self.last_part_losses = part_losses.detach()
        self.last_weights = (
            torch.ones_like(self.last_part_losses) if weights is None else weights.detach()
        )

    def forward(self, loss: PartLoss, x: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

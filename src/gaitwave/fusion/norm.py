"""Norm-fusion, the Waveloss (MATH.md Eqs. 4, 6, 7): a stop-gradient exponential tilt over parts.

With `F` the part losses `[P]` and l the exponent:

    a_i = exp(F_i / ||F||_2)                   (norm across the P parts)
    w_i = sg((a_i / ||a||_2) ** l)             (gradient truncation)
    m   = sg(sum_i F_i / sum_i w_i F_i)        (gradient normalisation, detached)
    L   = (m / P) * sum_i w_i F_i  =  (1 / P) * sum_i omega_i F_i,   omega = m * w (detached)

so `L == mean(F)` in value for every l, and `dL/dF_i = omega_i / P`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_EPS = 1e-12  # below this, ||F|| and sum(w F) count as zero (MATH.md: a = 1, m = 1)


class NormFusion(nn.Module):
    """Waveloss over the per-part losses of a base loss.

    `exponent` (l) is a float32 scalar buffer, so it is saved in checkpoints; the
    `ExponentSchedule` callback sets it every step (`set_exponent`). l = 0 is post-fusion;
    l > 0 favours hard (high-loss) parts, l < 0 easy parts. Computed in fp32 (fp64 stays fp64)
    with autocast off. After each call, `last_part_losses` (`F [P]`) and `last_weights`
    (`omega [P]`) hold detached diagnostics.

    Args:
        exponent: initial exponent l (default 0.0).
    """

    exponent: Tensor

    def __init__(self, exponent: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("exponent", torch.tensor(float(exponent), dtype=torch.float32))
        self.last_part_losses: Tensor | None = None
        self.last_weights: Tensor | None = None

    def set_exponent(self, value: float) -> None:
        """Set l in place (the buffer keeps its device and dtype)."""
        self.exponent.fill_(float(value))

    @staticmethod
    def _check(part_losses: Tensor) -> Tensor:
        if part_losses.dim() != 1 or part_losses.numel() == 0:
            raise ValueError(
                "NormFusion: part losses must be a non-empty vector [P], got shape "
                f"{tuple(part_losses.shape)}; a base loss returns one value per part."
            )
        return part_losses.to(torch.promote_types(part_losses.dtype, torch.float32))

    def _omega(self, losses: Tensor) -> Tensor:
        """Detached `omega = m * w` `[P]` for part losses `F [P]` (fp32 or fp64)."""
        with torch.no_grad():
            losses = losses.detach()
            norm = torch.linalg.vector_norm(losses)
            # a = exp(F / ||F||) lies in [1/e, e], so nothing overflows; ||F|| = 0 gives a = 1.
            a = torch.exp(torch.where(norm > _EPS, losses / norm.clamp_min(_EPS), 0.0))
            weights = (a / torch.linalg.vector_norm(a)).pow(self.exponent.to(losses))
            weighted_sum = (weights * losses).sum()
            normaliser = torch.where(
                weighted_sum > _EPS, losses.sum() / weighted_sum.clamp_min(_EPS), 1.0
            )
            return normaliser * weights

    def weights(self, part_losses: Tensor) -> Tensor:
        """omega `[P]` = `m * w`, detached: the gradient of `reduce` is `omega / P`."""
        with torch.autocast(device_type=part_losses.device.type, enabled=False):
            return self._omega(self._check(part_losses))

    def reduce(self, part_losses: Tensor) -> Tensor:
        """Waveloss on given part losses `F [P]` -> scalar (equal to `mean(F)` in value)."""
        with torch.autocast(device_type=part_losses.device.type, enabled=False):
            losses = self._check(part_losses)
            omega = self._omega(losses)  # sg(m) * sg(w) = sg(m * w)
            self.last_part_losses = losses.detach()
            self.last_weights = omega
            return (omega * losses).sum() / losses.shape[0]

    def forward(self, loss: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
        """Loss module, its input `[N, *, P]` and labels `[N]` -> scalar Waveloss."""
        return self.reduce(loss(x, labels))

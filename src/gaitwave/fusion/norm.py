"""Norm-fusion, the Waveloss (docs/MATH.md Eqs. 4, 6, 7): an exponential tilt over parts.

With `F` the part losses `[P]` and l the exponent:

    a_i = exp(F_i / ||F||_2)                   (norm across the P parts)
    w_i = sg((a_i / ||a||_2) ** l)             (gradient truncation; `truncate=False` drops sg)
    m   = sg(sum_i F_i / sum_i w_i F_i)        (gradient normalisation; `normalize=False`: m = 1)
    L   = (m / P) * sum_i w_i F_i

With both switches on (the default, Waveloss as the paper ran it) `L == mean(F)` in value for
every l and `dL/dF_i = omega_i / P` with `omega = m * w`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gaitwave.fusion.base import Fusion
from gaitwave.fusion.exponent import ExponentSchedule
from gaitwave.losses.base import PartLoss

_EPS = 1e-12  # below this, ||F|| and sum(w F) count as zero (docs/MATH.md: a = 1, m = 1)


class NormFusion(Fusion):
    """Waveloss over the per-part losses of a base loss.

    `exponent` (l) is a float32 scalar buffer, saved in checkpoints. With a `schedule`, the
    `ExponentCallback` sets it before every optimisation step (it starts at the schedule's
    step-0 value); without one it stays at `exponent`. l = 0 is post-fusion; l > 0 favours hard
    (high-loss) parts, l < 0 easy parts. Computed in fp32 (fp64 stays fp64) with autocast off.

    Args:
        exponent: a constant l (default 0.0); give this or `schedule`, not both.
        truncate: weights carry no gradient (Eq. 6; default on).
        normalize: the detached normaliser m keeps the value at mean(F) (Eq. 7; default on).
        schedule: l over training (the Dynamic Learning Process), or None for a constant l.
    """

    exponent: Tensor

    def __init__(
        self,
        exponent: float = 0.0,
        truncate: bool = True,
        normalize: bool = True,
        schedule: ExponentSchedule | None = None,
    ) -> None:
        super().__init__()
        if schedule is not None and exponent != 0.0:
            raise ValueError(
                f"NormFusion: give a constant exponent ({exponent}) or a schedule, not both"
            )
        self.truncate = bool(truncate)
        self.normalize = bool(normalize)
        self.schedule = schedule
        initial = schedule(0, 1) if schedule is not None else exponent
        self.register_buffer("exponent", torch.tensor(float(initial), dtype=torch.float32))

    def extra_repr(self) -> str:
        return f"truncate={self.truncate}, normalize={self.normalize}, schedule={self.schedule}"

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
        return Fusion.as_float(part_losses)

    def _tilt(self, losses: Tensor) -> Tensor:
        """`w = (a / ||a||) ** l` `[P]` with `a = exp(F / ||F||)` (a = 1 when ||F|| = 0)."""
        norm = torch.linalg.vector_norm(losses)
        # a lies in [1/e, e], so nothing overflows
        a = torch.exp(torch.where(norm > _EPS, losses / norm.clamp_min(_EPS), 0.0))
        return (a / torch.linalg.vector_norm(a)).pow(self.exponent.to(losses))

    def _omega(self, losses: Tensor) -> Tensor:
        """`omega = m * w` `[P]`; detached unless `truncate` is off (then w keeps its graph)."""
        if self.truncate:
            with torch.no_grad():
                weights = self._tilt(losses.detach())
        else:
            weights = self._tilt(losses)
        if not self.normalize:
            return weights
        with torch.no_grad():
            weighted_sum = (weights * losses).sum()
            normaliser = torch.where(
                weighted_sum > _EPS, losses.sum() / weighted_sum.clamp_min(_EPS), 1.0
            )
        return normaliser * weights

    def weights(self, part_losses: Tensor) -> Tensor:
        """omega `[P]` = `m * w`, detached (with both switches on, `P * dL/dF`)."""
        with torch.autocast(device_type=part_losses.device.type, enabled=False):
            return self._omega(self._check(part_losses).detach()).detach()

    def reduce(self, part_losses: Tensor) -> Tensor:
        """Waveloss on given part losses `F [P]` -> scalar."""
        with torch.autocast(device_type=part_losses.device.type, enabled=False):
            losses = self._check(part_losses)
            omega = self._omega(losses)
            self.record(losses, omega)
            return (omega * losses).sum() / losses.shape[0]

    def forward(self, loss: PartLoss, x: Tensor, labels: Tensor) -> Tensor:
        """Loss module, its input `[N, *, P]` and labels `[N]` -> scalar Waveloss."""
        return self.reduce(loss(x, labels))

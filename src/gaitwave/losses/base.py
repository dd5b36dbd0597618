"""The contract every per-part loss meets, so that any fusion can reduce any loss."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class PartLoss(Protocol):
    """A loss that keeps the parts apart (docs/MATH.md section 0).

    `loss(x, labels) == loss.part_losses(loss.scores(x), labels)`:

    - `scores(x)`: input `[N, *, P]` -> per-part score tensors `[P, ...]` (distances,
      similarities or logits); pre-fusion averages them over parts.
    - `part_losses(scores, labels)`: scores `[P', ...]` and labels `[N]` -> losses `[P']`.
    """

    def scores(self, x: Tensor) -> Tensor: ...

    def part_losses(self, scores: Tensor, labels: Tensor) -> Tensor: ...

    def __call__(self, x: Tensor, labels: Tensor) -> Tensor: ...

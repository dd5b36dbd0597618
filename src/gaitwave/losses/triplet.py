"""Batch-all triplet loss per part (OpenGait's formulation, docs/MATH.md section 3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaitwave.losses.pairwise import check_batch, grouped_indices, pairwise_euclidean

REDUCTIONS = ("nonzero", "mean")


class TripletLoss(nn.Module):
    """Batch-all triplet loss with Euclidean distances, one value per part.

    Every triplet (anchor a, positive p, negative n) of the batch is used, where the positives
    include the anchor itself (`d_aa = 0`). Per part, the terms `relu(d_ap - d_an + margin)` are
    averaged over the non-zero ones (`reduction="nonzero"`, OpenGait; 0 if none) or over all
    triplets (`reduction="mean"`, the plain mean for which Jensen gives pre <= post fusion).

    After each `part_losses` call, `last_active` holds the number of active (non-zero) triplets
    per part, int64 `[P']`, detached.

    Args:
        margin: the margin, in embedding distance units (default 0.2).
        reduction: "nonzero" (default) or "mean".
    """

    def __init__(self, margin: float = 0.2, reduction: str = "nonzero") -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"TripletLoss: margin must be >= 0, got {margin}.")
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"TripletLoss: reduction must be one of {REDUCTIONS}, got {reduction!r}."
            )
        self.margin = float(margin)
        self.reduction = reduction
        self.last_active: Tensor | None = None

    def scores(self, x: Tensor) -> Tensor:
        """Embeddings `[N, C, P]` -> per-part Euclidean distances `[P, N, N]`."""
        return pairwise_euclidean(x)

    def part_losses(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Distances `[P', N, N]` and labels `[N]` -> per-part losses `[P']`."""
        check_batch(scores.transpose(0, 1), labels, "TripletLoss")
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        pos_index, pos_valid = grouped_indices(same)
        neg_index, neg_valid = grouped_indices(~same)
        parts = scores.shape[0]
        d_ap = scores.gather(2, pos_index.expand(parts, -1, -1))  # [P', N, K]
        d_an = scores.gather(2, neg_index.expand(parts, -1, -1))  # [P', N, M]
        threshold = d_ap + self.margin
        with torch.no_grad():
            # Triplet (a, p, n) is active when d_an < d_ap + margin; padding never is. The mask
            # is piecewise constant, so given it the sum of active terms is linear in the
            # distances: no [P', N, K, M] tensor goes through autograd.
            active = (
                threshold.masked_fill(~pos_valid, float("-inf")).unsqueeze(3)
                - d_an.masked_fill(~neg_valid, float("inf")).unsqueeze(2)
            ).gt_(0)  # [P', N, K, M], 1.0 where active (in place: no bool tensor to convert)
            per_positive = active.sum(dim=3)  # [P', N, K]
            per_negative = active.sum(dim=2)  # [P', N, M]
            counts = per_positive.sum(dim=(1, 2))  # [P'], exact in floating point
        total = (per_positive * threshold).sum(dim=(1, 2)) - (per_negative * d_an).sum(dim=(1, 2))
        self.last_active = counts.long()
        if self.reduction == "nonzero":
            return total / counts.clamp_min(1)
        triplets = (pos_valid.sum(1) * neg_valid.sum(1)).sum()
        return total / triplets.clamp_min(1)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """Embeddings `[N, C, P]`, labels int64 `[N]` -> per-part losses `[P]`."""
        check_batch(x, labels, "TripletLoss")
        return self.part_losses(self.scores(x), labels)

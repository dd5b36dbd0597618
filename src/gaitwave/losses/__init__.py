"""Per-part losses: embeddings or logits `[N, *, P]` and labels `[N]` -> loss vector `[P]`.

Each loss exposes `scores(x) -> [P, ...]` and `part_losses(scores, labels) -> [P']`, with
`loss(x, labels) == loss.part_losses(loss.scores(x), labels)`; a fusion reduces over parts.
"""

from gaitwave.losses.circle import CircleLoss
from gaitwave.losses.pairwise import pairwise_cosine, pairwise_euclidean
from gaitwave.losses.softmax import SoftmaxLoss
from gaitwave.losses.triplet import TripletLoss

__all__ = ["CircleLoss", "SoftmaxLoss", "TripletLoss", "pairwise_cosine", "pairwise_euclidean"]

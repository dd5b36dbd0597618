"""Circle loss per part (Sun et al., CVPR 2020; docs/MATH.md section 3), on cosine similarities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gaitwave.losses.pairwise import check_batch, grouped_indices, pairwise_cosine

REDUCTIONS = ("anchor", "global")
_LSE_RANGE = 80.0  # terms below e^-80 of a row's largest are invisible in fp32 and fp64


def circle_alphas(sim: Tensor, m: float) -> tuple[Tensor, Tensor]:
    """Detached self-paced weights `alpha_p = relu(1 + m - s)`, `alpha_n = relu(s + m)`.

    Args:
        sim: cosine similarities `[P, N, N]`.
        m: the relaxation margin.

    Returns:
        `(alpha_p, alpha_n)`, each `[P, N, N]`, without gradient.
    """
    with torch.no_grad():
        return F.relu(1 + m - sim), F.relu(sim + m)


def _logsumexp(logits: Tensor, valid: Tensor | None = None) -> Tensor:
    """LSE over the last dim of the entries where `valid` holds (`masked_fill(-inf)`).

    Entries more than 80 below their row's largest are first raised to that floor (with no
    gradient): their share of the sum, under e^-80, is below fp32 and fp64 resolution, and the
    backward then holds no subnormal numbers, which slow some CPUs down by orders of magnitude
    (gamma = 256 spreads a row's logits over hundreds).
    """
    masked = logits if valid is None else logits.masked_fill(~valid, float("-inf"))
    floor = masked.detach().amax(dim=-1, keepdim=True) - _LSE_RANGE
    raised = logits.clamp_min(floor)
    if valid is not None:
        raised = raised.masked_fill(~valid, float("-inf"))
    return raised.logsumexp(dim=-1)


def circle_part_losses(
    sim: Tensor,
    labels: Tensor,
    alpha_p: Tensor,
    alpha_n: Tensor,
    m: float,
    gamma: float,
    reduction: str = "anchor",
) -> Tensor:
    """Circle loss per part for given weights (constants here, so it is differentiable as is).

    `softplus(LSE_n[gamma a_n (s_n - m)] + LSE_p[-gamma a_p (s_p - (1 - m))])`, per anchor
    averaged over the anchors with a positive (other than itself) and a negative
    (`reduction="anchor"`), or once over all pairs of the batch (`reduction="global"`). Each
    anchor's positives and negatives are gathered into dense `[P, N, K]` tensors; rows shorter
    than K are padded with `masked_fill(-inf)` before `logsumexp` (with a P x K sampler there
    is no padding, which also keeps the CPU's `exp` off its slow path for -inf). Parts with
    nothing to compare get a graph-connected 0.

    Args:
        sim: cosine similarities `[P, N, N]`.
        labels: int64 `[N]`.
        alpha_p, alpha_n: weights `[P, N, N]` (see `circle_alphas`).
        m: relaxation margin; gamma: scale.
        reduction: "anchor" or "global".

    Returns:
        per-part losses `[P]`.
    """
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    if reduction == "global":
        if not (positive.any() and negative.any()):
            return sim.sum(dim=(1, 2)) * 0
        logit_p = -gamma * alpha_p[:, positive] * (sim[:, positive] - (1 - m))  # [P, pairs]
        logit_n = gamma * alpha_n[:, negative] * (sim[:, negative] - m)
        return F.softplus(_logsumexp(logit_p) + _logsumexp(logit_n))
    kept = positive.any(1) & negative.any(1)
    if not kept.any():
        return sim.sum(dim=(1, 2)) * 0
    if not kept.all():
        sim, alpha_p, alpha_n = sim[:, kept], alpha_p[:, kept], alpha_n[:, kept]
        positive, negative = positive[kept], negative[kept]
    pos_index, pos_valid = grouped_indices(positive)  # [A, K]
    neg_index, neg_valid = grouped_indices(negative)  # [A, M]
    pos_index = pos_index.expand(sim.shape[0], -1, -1)
    neg_index = neg_index.expand(sim.shape[0], -1, -1)
    s_p, s_n = sim.gather(2, pos_index), sim.gather(2, neg_index)  # [P, A, K], [P, A, M]
    logit_p = -gamma * alpha_p.gather(2, pos_index) * (s_p - (1 - m))
    logit_n = gamma * alpha_n.gather(2, neg_index) * (s_n - m)
    lse_p, lse_n = _logsumexp(logit_p, pos_valid), _logsumexp(logit_n, neg_valid)
    return F.softplus(lse_p + lse_n).mean(dim=1)


class CircleLoss(nn.Module):
    """Circle loss on per-part cosine similarities, one value per part.

    Args:
        m: relaxation margin (default 0.25).
        gamma: scale (default 256, the face-recognition setting; 128 for re-identification).
        reduction: "anchor" (default: one softplus per anchor, mean over anchors that have a
            positive and a negative) or "global" (one softplus over all pairs of the batch).
    """

    def __init__(self, m: float = 0.25, gamma: float = 256.0, reduction: str = "anchor") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"CircleLoss: reduction must be one of {REDUCTIONS}, got {reduction!r}."
            )
        if gamma <= 0:
            raise ValueError(f"CircleLoss: gamma must be > 0, got {gamma}.")
        self.m = float(m)
        self.gamma = float(gamma)
        self.reduction = reduction

    def scores(self, x: Tensor) -> Tensor:
        """Embeddings `[N, C, P]` -> per-part cosine similarities `[P, N, N]`."""
        return pairwise_cosine(x)

    def part_losses(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Cosine similarities `[P', N, N]` and labels `[N]` -> per-part losses `[P']`."""
        check_batch(scores.transpose(0, 1), labels, "CircleLoss")
        alpha_p, alpha_n = circle_alphas(scores, self.m)
        return circle_part_losses(
            scores, labels, alpha_p, alpha_n, self.m, self.gamma, self.reduction
        )

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """Embeddings `[N, C, P]`, labels int64 `[N]` -> per-part losses `[P]`."""
        check_batch(x, labels, "CircleLoss")
        return self.part_losses(self.scores(x), labels)

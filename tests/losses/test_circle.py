"""CircleLoss against pytorch-metric-learning and an explicit per-anchor loop, part by part."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import CircleLoss as ReferenceCircleLoss
from pytorch_metric_learning.reducers import MeanReducer

from gaitwave.losses import CircleLoss
from gaitwave.losses.circle import circle_alphas, circle_part_losses

M = 0.25


def log_sum_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def softplus(value: float) -> float:
    return max(value, 0.0) + math.log1p(math.exp(-abs(value)))


def pair_logits(sim: torch.Tensor, labels: list[int], a: int, gamma: float) -> tuple[list, list]:
    """The anchor's positive and negative logits, written out from the paper's formula."""
    positives, negatives = [], []
    for j, label in enumerate(labels):
        s = float(sim[a, j])
        if j != a and label == labels[a]:
            positives.append(-gamma * max(1 + M - s, 0.0) * (s - (1 - M)))
        elif label != labels[a]:
            negatives.append(gamma * max(s + M, 0.0) * (s - M))
    return positives, negatives


def loop_reference(x: torch.Tensor, labels: list[int], gamma: float, reduction: str) -> list:
    losses = []
    for part in range(x.shape[2]):
        emb = F.normalize(x[:, :, part], dim=1)
        sim = emb @ emb.T
        pairs = [pair_logits(sim, labels, a, gamma) for a in range(len(labels))]
        if reduction == "anchor":
            per_anchor = [
                softplus(log_sum_exp(pos) + log_sum_exp(neg)) for pos, neg in pairs if pos and neg
            ]
            losses.append(sum(per_anchor) / len(per_anchor))
        else:
            all_pos = [v for pos, _ in pairs for v in pos]
            all_neg = [v for _, neg in pairs for v in neg]
            losses.append(softplus(log_sum_exp(all_pos) + log_sum_exp(all_neg)))
    return losses


@pytest.mark.parametrize("gamma", [128.0, 256.0])
def test_matches_pytorch_metric_learning_per_part(gamma: float) -> None:
    labels = torch.arange(4).repeat_interleave(4)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 8, 5, generator=gen, dtype=torch.float64)
    values = CircleLoss(m=M, gamma=gamma)(x, labels)
    reference = ReferenceCircleLoss(m=M, gamma=gamma, reducer=MeanReducer())
    for part in range(5):
        torch.testing.assert_close(values[part], reference(x[:, :, part], labels))


@pytest.mark.parametrize("reduction", ["anchor", "global"])
def test_matches_loop_and_drops_anchors_without_pairs(reduction: str) -> None:
    labels = [0, 0, 0, 1, 1, 2]  # the singleton anchor (label 2) has no positive
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    values = CircleLoss(m=M, gamma=64.0, reduction=reduction)(x, torch.tensor(labels))
    expected = loop_reference(x, labels, 64.0, reduction)
    torch.testing.assert_close(values, torch.tensor(expected, dtype=torch.float64))


def test_forward_equals_part_losses_of_scores() -> None:
    loss = CircleLoss()
    x = torch.randn(12, 6, 3, dtype=torch.float64)
    labels = torch.arange(3).repeat_interleave(4)
    scores = loss.scores(x)
    assert scores.shape == (3, 12, 12)
    torch.testing.assert_close(loss(x, labels), loss.part_losses(scores, labels))


def test_alphas_are_detached() -> None:
    sim = torch.rand(2, 4, 4, requires_grad=True)
    alpha_p, alpha_n = circle_alphas(sim, M)
    assert not alpha_p.requires_grad and not alpha_n.requires_grad


@pytest.mark.parametrize("reduction", ["anchor", "global"])
def test_gradcheck_with_constant_alphas(reduction: str) -> None:
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    sim = (torch.rand(2, 6, 6, dtype=torch.float64) * 2 - 1).requires_grad_()
    alpha_p, alpha_n = circle_alphas(sim, M)

    def fn(s: torch.Tensor) -> torch.Tensor:
        return circle_part_losses(s, labels, alpha_p, alpha_n, M, 8.0, reduction)

    assert torch.autograd.gradcheck(fn, (sim,))


@pytest.mark.parametrize("reduction", ["anchor", "global"])
def test_large_losses_in_fp32_stay_finite(reduction: str) -> None:
    # Random embeddings at gamma = 256 give part losses around 240 (docs/MATH.md section 3).
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 3])  # two anchors are dropped
    x = torch.randn(8, 16, 4, requires_grad=True)
    values = CircleLoss(reduction=reduction)(x, labels)
    assert values.dtype == torch.float32
    assert torch.all(values > 100) and torch.isfinite(values).all()
    values.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("reduction", ["anchor", "global"])
def test_nothing_to_compare_gives_graph_connected_zero(reduction: str) -> None:
    x = torch.randn(3, 4, 2, requires_grad=True)
    values = CircleLoss(reduction=reduction)(x, torch.tensor([0, 1, 2]))  # no positives
    assert torch.equal(values, torch.zeros(2))
    values.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="reduction"):
        CircleLoss(reduction="mean")
    with pytest.raises(ValueError, match="gamma"):
        CircleLoss(gamma=0)
    with pytest.raises(ValueError, match="labels must be"):
        CircleLoss()(torch.randn(4, 3, 2), torch.zeros(3, dtype=torch.int64))


def test_backward_holds_no_subnormal_numbers() -> None:
    # gamma = 256 spreads logits over hundreds: without the LSE floor, far-off softmax weights
    # underflow to subnormals, which slow CPU matrix products down by orders of magnitude.
    x = torch.randn(64, 128, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(8).repeat_interleave(8)
    loss = CircleLoss()
    sim = loss.scores(x).requires_grad_()
    loss.part_losses(sim, labels).sum().backward()
    grad = sim.grad
    subnormal = (grad != 0) & (grad.abs() < torch.finfo(torch.float32).tiny)
    assert not subnormal.any()

"""TripletLoss against a plain Python loop and pytorch-metric-learning, part by part."""

from __future__ import annotations

import itertools

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss

from gaitwave.fusion import PostFusion, PreFusion
from gaitwave.losses import TripletLoss

MARGIN = 0.2


def self_including_triplets(labels: list[int]) -> list[tuple[int, int, int]]:
    """Every (anchor, positive, negative), positives including the anchor itself."""
    n = len(labels)
    return [
        (a, p, q)
        for a, p, q in itertools.product(range(n), repeat=3)
        if labels[a] == labels[p] and labels[a] != labels[q]
    ]


def loop_reference(x: torch.Tensor, labels: list[int], reduction: str) -> tuple[list, list]:
    """Per-part loss and active count with a loop over parts and triplets."""
    losses, actives = [], []
    for part in range(x.shape[2]):
        emb = x[:, :, part]
        terms = [
            max(
                float(torch.linalg.norm(emb[a] - emb[p]) - torch.linalg.norm(emb[a] - emb[q]))
                + MARGIN,
                0.0,
            )
            for a, p, q in self_including_triplets(labels)
        ]
        active = sum(term > 0 for term in terms)
        denominator = active if reduction == "nonzero" else len(terms)
        losses.append(sum(terms) / denominator if denominator else 0.0)
        actives.append(active)
    return losses, actives


@pytest.mark.parametrize("reduction", ["nonzero", "mean"])
def test_matches_plain_loop_with_uneven_classes(reduction: str) -> None:
    labels = [0, 0, 1, 1, 1, 2, 3, 3]  # uneven class sizes, one singleton
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 4, generator=gen, dtype=torch.float64) * 0.3
    loss = TripletLoss(margin=MARGIN, reduction=reduction)
    values = loss(x, torch.tensor(labels))
    expected, actives = loop_reference(x, labels, reduction)
    assert values.shape == (4,)
    torch.testing.assert_close(values, torch.tensor(expected, dtype=torch.float64))
    assert loss.last_active.tolist() == actives
    assert min(actives) > 0  # the case exercises real triplets


def test_matches_pytorch_metric_learning_per_part() -> None:
    labels = torch.arange(4).repeat_interleave(4)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 8, 5, generator=gen, dtype=torch.float64) * 0.2
    triplets = torch.tensor(self_including_triplets(labels.tolist()))
    reference = TripletMarginLoss(margin=MARGIN, distance=LpDistance(normalize_embeddings=False))
    values = TripletLoss(margin=MARGIN)(x, labels)
    for part in range(5):
        expected = reference(x[:, :, part], labels, indices_tuple=tuple(triplets.T))
        torch.testing.assert_close(values[part], expected)


def test_forward_equals_part_losses_of_scores() -> None:
    loss = TripletLoss()
    x = torch.randn(12, 6, 3, dtype=torch.float64)
    labels = torch.arange(3).repeat_interleave(4)
    scores = loss.scores(x)
    assert scores.shape == (3, 12, 12)
    torch.testing.assert_close(loss(x, labels), loss.part_losses(scores, labels))


@pytest.mark.parametrize("reduction", ["nonzero", "mean"])
def test_gradcheck(reduction: str) -> None:
    x = torch.randn(6, 3, 2, dtype=torch.float64).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = TripletLoss(margin=0.5, reduction=reduction)
    assert torch.autograd.gradcheck(lambda emb: loss(emb, labels), (x,))


def test_no_negatives_gives_graph_connected_zero() -> None:
    x = torch.randn(4, 3, 2, requires_grad=True)
    values = TripletLoss()(x, torch.zeros(4, dtype=torch.int64))
    assert torch.equal(values, torch.zeros(2))
    values.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_jensen_pre_fusion_below_post_fusion_with_plain_mean() -> None:
    loss = TripletLoss(margin=MARGIN, reduction="mean")
    labels = torch.arange(4).repeat_interleave(3)
    for seed in range(10):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(12, 4, 8, generator=gen, dtype=torch.float64) * 0.3
        pre = PreFusion()(loss, x, labels)
        post = PostFusion()(loss, x, labels)
        assert pre <= post + 1e-12
        assert post > 0


def test_bad_labels_raise_clear_errors() -> None:
    x = torch.randn(4, 3, 2)
    with pytest.raises(ValueError, match="labels must be"):
        TripletLoss()(x, torch.zeros(5, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"labels\.long\(\)"):
        TripletLoss()(x, torch.zeros(4, dtype=torch.int32))
    with pytest.raises(ValueError, match="reduction"):
        TripletLoss(reduction="sum")

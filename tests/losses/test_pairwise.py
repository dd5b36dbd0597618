"""Batched per-part pairwise scores against per-part torch.cdist / explicit cosines."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaitwave.losses import pairwise_cosine, pairwise_euclidean


def test_euclidean_matches_cdist_per_part() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(4, 5, 3, generator=gen, dtype=torch.float64)
    dist = pairwise_euclidean(x, y)
    assert dist.shape == (3, 7, 4)
    for part in range(3):
        expected = torch.cdist(x[:, :, part], y[:, :, part])
        torch.testing.assert_close(dist[part], expected)


def test_euclidean_self_has_exact_zero_diagonal() -> None:
    x = torch.randn(6, 8, 2, dtype=torch.float64) * 100
    dist = pairwise_euclidean(x)
    assert torch.all(dist.diagonal(dim1=1, dim2=2) == 0)
    for part in range(2):
        torch.testing.assert_close(dist[part], torch.cdist(x[:, :, part], x[:, :, part]))


def test_cosine_matches_explicit_per_part() -> None:
    x = torch.randn(5, 6, 3, dtype=torch.float64)
    y = torch.randn(9, 6, 3, dtype=torch.float64)
    sim = pairwise_cosine(x, y)
    assert sim.shape == (3, 5, 9)
    for part in range(3):
        expected = F.cosine_similarity(x[:, None, :, part], y[None, :, :, part], dim=-1)
        torch.testing.assert_close(sim[part], expected)
    torch.testing.assert_close(pairwise_cosine(x), pairwise_cosine(x, x))


def test_half_precision_inputs_are_computed_in_fp32() -> None:
    x = torch.randn(4, 8, 2).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert pairwise_euclidean(x).dtype == torch.float32
        assert pairwise_cosine(x).dtype == torch.float32


def test_bad_shapes_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"\[N, C, P\]"):
        pairwise_euclidean(torch.randn(4, 8))
    with pytest.raises(ValueError, match="share channels and parts"):
        pairwise_cosine(torch.randn(4, 8, 2), torch.randn(4, 8, 3))


def test_gradcheck_self_and_cross() -> None:
    x = torch.randn(5, 4, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    for fn in (pairwise_euclidean, pairwise_cosine):
        # Off the diagonal: the self distance sqrt(0) has no derivative.
        assert torch.autograd.gradcheck(lambda a, fn=fn: fn(a)[:, [0, 1], [2, 4]], (x,))
        assert torch.autograd.gradcheck(fn, (x, y))

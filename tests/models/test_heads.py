"""Head pieces against hand computations: temporal max, HPP, GeM-HPP, PartFC, BNNeck, GaitHead."""

import math

import pytest
import torch
import torch.nn.functional as F

from gaitwave.models.heads import (
    BNNeck,
    GaitHead,
    GeMHorizontalPooling,
    HorizontalPooling,
    PartFC,
    temporal_max,
)


def strip_rows(height: int, bins: int, index: int) -> slice:
    """Rows of strip `index` out of `bins`: floor(i H / b) to ceil((i + 1) H / b) - 1."""
    return slice(index * height // bins, math.ceil((index + 1) * height / bins))


def test_temporal_max_ignores_padding_even_when_it_would_win():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 6, 5, 2)
    lengths = torch.tensor([6, 2, 1])
    for n, length in enumerate(lengths.tolist()):
        x[n, :, length:] = 1e6  # padding that would win a plain max
    out = temporal_max(x, lengths)
    assert out.shape == (3, 4, 5, 2)
    for n, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[n], x[n, :, :length].max(dim=1).values)
    assert out.max() < 1e6


def test_temporal_max_without_lengths_is_a_plain_max():
    x = torch.randn(2, 3, 4, 5, 6)
    torch.testing.assert_close(temporal_max(x), x.max(dim=2).values)


@pytest.mark.parametrize(
    ("lengths", "match"),
    [
        (torch.tensor([3, 0]), r"\[1, T\]"),
        (torch.tensor([3, 5]), r"\[1, T\]"),
        (torch.tensor([3]), r"\[N\]"),
    ],
)
def test_temporal_max_rejects_bad_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        temporal_max(torch.zeros(2, 1, 4, 2, 2), lengths)


@pytest.mark.parametrize(
    ("height", "bins"), [(16, (16,)), (16, (1, 2, 4, 8)), (8, (16,)), (11, (4, 3))]
)
def test_horizontal_pooling_equals_hand_computation(height, bins):
    torch.manual_seed(0)
    x = torch.randn(2, 3, height, 5)
    out = HorizontalPooling(bins)(x)
    parts = []
    for b in bins:
        for i in range(b):
            strip = x[:, :, strip_rows(height, b, i), :]
            parts.append(strip.mean(dim=(2, 3)) + strip.amax(dim=(2, 3)))
    assert out.shape == (2, 3, sum(bins))
    torch.testing.assert_close(out, torch.stack(parts, dim=2))


def test_horizontal_pooling_equal_strips_when_bins_divide_the_height():
    x = torch.randn(2, 3, 16, 11)
    strips = x.view(2, 3, 4, 4 * 11)  # 4 strips of 4 whole rows each
    expected = strips.mean(dim=3) + strips.amax(dim=3)
    torch.testing.assert_close(HorizontalPooling((4,))(x), expected)


def test_gem_horizontal_pooling_equals_hand_computation():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 12, 5)
    pooling = GeMHorizontalPooling(bins=(4, 1), p=3.0, eps=1e-6)
    out = pooling(x)
    parts = []
    for b in (4, 1):
        for i in range(b):
            strip = x[:, :, strip_rows(12, b, i), :].clamp(min=1e-6)
            parts.append(strip.pow(3.0).mean(dim=(2, 3)).pow(1 / 3.0))
    torch.testing.assert_close(out, torch.stack(parts, dim=2))
    assert pooling.p.requires_grad


def test_part_fc_equals_a_loop_over_parts():
    torch.manual_seed(0)
    fc = PartFC(in_channels=6, out_channels=4, parts=5)
    x = torch.randn(3, 6, 5)
    expected = torch.stack([x[:, :, p] @ fc.weight[p] for p in range(5)], dim=2)
    out = fc(x)
    assert out.shape == (3, 4, 5)
    torch.testing.assert_close(out, expected)


def test_part_fc_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"PartFC expects x \[N, C, P\] = \[N, 6, 5\]"):
        PartFC(6, 4, 5)(torch.randn(3, 5, 6))


def test_bnneck_logits_are_cosine_similarities():
    torch.manual_seed(0)
    neck = BNNeck(channels=8, parts=3, num_classes=7)
    x = torch.randn(10, 8, 3) * 5 + 2
    bn_features, logits = neck(x)
    assert bn_features.shape == (10, 8, 3)
    assert logits.shape == (10, 7, 3)
    assert logits.abs().max() <= 1 + 1e-6
    flat = x.reshape(10, 24)  # one BatchNorm over C * P, batch statistics in training
    normalised = (flat - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + neck.bn.eps)
    torch.testing.assert_close(bn_features, normalised.view(10, 8, 3), atol=1e-5, rtol=1e-5)
    for p in range(3):
        for k in range(7):
            cosine = F.cosine_similarity(bn_features[:, :, p], neck.class_weight[p, :, k][None])
            torch.testing.assert_close(logits[:, k, p], cosine, atol=1e-6, rtol=1e-5)


def test_bnneck_logits_stay_float32_under_bf16_autocast():
    neck = BNNeck(channels=8, parts=3, num_classes=7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, logits = neck(torch.randn(4, 8, 3))
    assert logits.dtype == torch.float32
    assert logits.abs().max() <= 1 + 1e-6


@pytest.mark.parametrize("pooling", ["hpp", "gem"])
def test_gait_head_outputs(pooling):
    head = GaitHead(in_channels=12, embed_dim=6, bins=(4, 2), num_classes=9, pooling=pooling)
    out = head(torch.rand(5, 12, 3, 8, 6), torch.tensor([3, 1, 2, 3, 3]))
    assert out["embeddings"].shape == (5, 6, 6)
    assert out["bn_embeddings"].shape == (5, 6, 6)
    assert out["logits"].shape == (5, 9, 6)


def test_gait_head_embeddings_are_the_part_fc_output():
    torch.manual_seed(0)
    head = GaitHead(in_channels=12, embed_dim=6, bins=(4,), num_classes=9).eval()
    maps = torch.rand(5, 12, 3, 8, 6)
    out = head(maps)
    pooled = HorizontalPooling((4,))(maps.amax(dim=2))
    torch.testing.assert_close(out["embeddings"], head.part_fc(pooled))
    torch.testing.assert_close(out["bn_embeddings"], head.bnneck(out["embeddings"])[0])


def test_gait_head_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        GaitHead(8, pooling="avg")
    with pytest.raises(ValueError, match="in_channels = 8"):
        GaitHead(8)(torch.rand(2, 4, 3, 16, 11))
    with pytest.raises(ValueError, match="bins"):
        HorizontalPooling((4, 0))

"""PreFusion and PostFusion against direct computations on per-part scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gaitwave.fusion import PostFusion, PreFusion
from gaitwave.losses import CircleLoss, TripletLoss

LABELS = torch.arange(4).repeat_interleave(3)


def embeddings(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(12, 6, 5, generator=gen, dtype=torch.float64)


def test_post_fusion_is_the_mean_of_part_losses() -> None:
    x = embeddings()
    fusion = PostFusion()
    value = fusion(TripletLoss(), x, LABELS)
    part_losses = TripletLoss()(x, LABELS)
    torch.testing.assert_close(value, part_losses.mean())
    torch.testing.assert_close(fusion.last_part_losses, part_losses)
    assert torch.equal(fusion.last_weights, torch.ones(5, dtype=torch.float64))


def test_pre_fusion_triplet_uses_the_mean_of_part_distances() -> None:
    x = embeddings(1)
    loss = TripletLoss()
    mean_distance = torch.stack([torch.cdist(x[:, :, p], x[:, :, p]) for p in range(5)]).mean(0)
    expected = loss.part_losses(mean_distance.unsqueeze(0), LABELS)[0]
    fusion = PreFusion()
    torch.testing.assert_close(fusion(loss, x, LABELS), expected)
    assert fusion.last_part_losses.shape == (1,)
    # Not the distance between concatenated parts: a different quantity.
    flat = x.reshape(12, -1)
    concatenated = loss.part_losses(torch.cdist(flat, flat).unsqueeze(0), LABELS)[0]
    assert (concatenated - expected).abs() > 1e-3


def test_pre_fusion_circle_uses_the_mean_of_part_cosines() -> None:
    x = embeddings(2)
    loss = CircleLoss(gamma=64.0)
    cosines = torch.stack(
        [F.cosine_similarity(x[:, None, :, p], x[None, :, :, p], dim=-1) for p in range(5)]
    )
    expected = loss.part_losses(cosines.mean(0, keepdim=True), LABELS)[0]
    torch.testing.assert_close(PreFusion()(loss, x, LABELS), expected)


def test_fusions_return_fp32_for_half_inputs_and_stay_graph_connected() -> None:
    x = torch.randn(12, 6, 5).bfloat16().requires_grad_()
    for fusion in (PreFusion(), PostFusion()):
        value = fusion(TripletLoss(), x, LABELS)
        assert value.dtype == torch.float32 and value.dim() == 0
        value.backward()
        assert torch.isfinite(x.grad.float()).all()

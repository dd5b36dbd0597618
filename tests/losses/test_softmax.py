"""SoftmaxLoss against F.cross_entropy per part, with CosFace / ArcFace margins written out."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gaitwave.fusion import PreFusion
from gaitwave.losses import SoftmaxLoss


def cosine_logits(n: int = 8, classes: int = 5, parts: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, classes, parts, generator=gen, dtype=torch.float64) * 1.8 - 0.9


LABELS = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])


def per_part_cross_entropy(cos: torch.Tensor, target_logit, scale: float, smoothing: float):
    """CE per part; `target_logit` maps the target cosines [N] to the margin-adjusted ones."""
    losses = []
    for part in range(cos.shape[2]):
        logits = cos[:, :, part].clone()
        rows = torch.arange(len(LABELS))
        logits[rows, LABELS] = target_logit(logits[rows, LABELS])
        losses.append(F.cross_entropy(scale * logits, LABELS, label_smoothing=smoothing))
    return torch.stack(losses)


def test_no_margin_equals_cross_entropy_per_part() -> None:
    cos = cosine_logits()
    values = SoftmaxLoss(scale=16.0, label_smoothing=0.1)(cos, LABELS)
    expected = per_part_cross_entropy(cos, lambda t: t, 16.0, 0.1)
    assert values.shape == (3,)
    torch.testing.assert_close(values, expected)


def test_cosface_subtracts_the_margin_on_the_target() -> None:
    cos = cosine_logits(seed=1)
    values = SoftmaxLoss(scale=30.0, label_smoothing=0.0, margin=0.35, margin_type="cos")(
        cos, LABELS
    )
    torch.testing.assert_close(values, per_part_cross_entropy(cos, lambda t: t - 0.35, 30.0, 0.0))


def test_arcface_adds_the_margin_to_the_angle() -> None:
    cos = cosine_logits(seed=2) * 0.9  # theta + margin stays below pi
    values = SoftmaxLoss(scale=16.0, label_smoothing=0.1, margin=0.3, margin_type="arc")(
        cos, LABELS
    )
    expected = per_part_cross_entropy(cos, lambda t: torch.cos(torch.acos(t) + 0.3), 16.0, 0.1)
    torch.testing.assert_close(values, expected)


def test_arcface_is_monotone_past_pi_and_finite_at_the_poles() -> None:
    loss = SoftmaxLoss(margin=0.5, margin_type="arc")
    cos = torch.linspace(-1, 1, 201, dtype=torch.float64, requires_grad=True)
    target = loss._target_with_margin(cos)
    assert torch.all(target.diff() > 0)
    target.sum().backward()
    assert torch.isfinite(cos.grad).all()
    assert math.isclose(target.detach()[-1].item(), math.cos(0.5), abs_tol=1e-3)


@pytest.mark.parametrize(("margin", "margin_type"), [(0.0, "none"), (0.2, "cos"), (0.3, "arc")])
def test_gradcheck(margin: float, margin_type: str) -> None:
    cos = cosine_logits(n=8, classes=5, parts=2).requires_grad_()
    loss = SoftmaxLoss(scale=4.0, margin=margin, margin_type=margin_type)
    assert torch.autograd.gradcheck(lambda c: loss(c, LABELS), (cos,))


def test_forward_equals_part_losses_and_pre_fusion_averages_logits() -> None:
    loss = SoftmaxLoss(margin=0.2, margin_type="cos")
    cos = cosine_logits()
    scores = loss.scores(cos)
    assert scores.shape == (3, 8, 5)
    torch.testing.assert_close(loss(cos, LABELS), loss.part_losses(scores, LABELS))
    pre = PreFusion()(loss, cos, LABELS)
    torch.testing.assert_close(pre, loss(cos.mean(dim=2, keepdim=True), LABELS)[0])


def test_bf16_logits_give_fp32_losses() -> None:
    cos = cosine_logits().bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert SoftmaxLoss()(cos, LABELS).dtype == torch.float32


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="margin_type"):
        SoftmaxLoss(margin_type="sphere")
    with pytest.raises(ValueError, match="no effect"):
        SoftmaxLoss(margin=0.2)
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxLoss(label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"\[N, K, P\]"):
        SoftmaxLoss()(torch.randn(8, 5), LABELS)

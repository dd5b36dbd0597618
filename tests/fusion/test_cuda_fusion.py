"""The losses and fusions on a CUDA device: same values as on the CPU, fp32 under autocast.

Skipped without a GPU (CI has none); run where one is lent.
"""

from __future__ import annotations

import copy

import pytest
import torch

from gaitwave.fusion import NormFusion, PostFusion, PreFusion
from gaitwave.losses import CircleLoss, SoftmaxLoss, TripletLoss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

LABELS = torch.arange(8).repeat_interleave(4)


def metric_losses() -> list[torch.nn.Module]:
    return [TripletLoss(), CircleLoss(), CircleLoss(reduction="global")]


@pytest.mark.parametrize("fusion", [PreFusion(), PostFusion(), NormFusion(2.0)])
def test_cuda_matches_cpu_in_value_and_gradient(fusion: torch.nn.Module) -> None:
    x_cpu = torch.randn(32, 16, 8, dtype=torch.float64, requires_grad=True)
    x_cuda = x_cpu.detach().cuda().requires_grad_()
    fusion_cuda = copy.deepcopy(fusion).cuda()
    for loss in metric_losses():
        value_cpu = fusion(loss, x_cpu, LABELS)
        value_cuda = fusion_cuda(loss, x_cuda, LABELS.cuda())
        grad_cpu = torch.autograd.grad(value_cpu, x_cpu)[0]
        grad_cuda = torch.autograd.grad(value_cuda, x_cuda)[0]
        torch.testing.assert_close(value_cuda.cpu(), value_cpu)
        torch.testing.assert_close(grad_cuda.cpu(), grad_cpu)
    logits = torch.rand(32, 8, 4, dtype=torch.float64) * 2 - 1
    loss = SoftmaxLoss(margin=0.3, margin_type="arc")
    torch.testing.assert_close(
        fusion_cuda(loss, logits.cuda(), LABELS.cuda()).cpu(), fusion(loss, logits, LABELS)
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_gives_finite_fp32_losses(dtype: torch.dtype) -> None:
    layer = torch.nn.Linear(64, 128 * 16).cuda()
    inputs = torch.randn(32, 64, device="cuda")
    labels = LABELS.cuda()
    for loss in metric_losses():
        layer.zero_grad()
        with torch.autocast("cuda", dtype=dtype):
            x = layer(inputs).view(32, 128, 16)
            assert x.dtype == dtype
            part_losses = loss(x, labels)
            value = NormFusion(3.0).cuda()(loss, x, labels)
        assert part_losses.dtype == torch.float32
        assert value.dtype == torch.float32 and torch.isfinite(value)
        value.backward()
        assert torch.isfinite(layer.weight.grad).all()


def test_large_part_losses_at_many_parts_stay_finite() -> None:
    # Circle loss at initialisation: F about 240 per part, P = 64 (docs/MATH.md section 3).
    x = torch.randn(32, 128, 64, device="cuda", requires_grad=True)
    labels = LABELS.cuda()
    fusion = NormFusion(3.0).cuda()
    with torch.autocast("cuda", dtype=torch.float16):
        value = fusion(CircleLoss(), x.half(), labels)
    value.backward()
    assert value > 100 and torch.isfinite(value) and torch.isfinite(x.grad).all()
    assert torch.isfinite(fusion.last_weights).all()

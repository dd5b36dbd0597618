"""NormFusion (Waveloss): every property of docs/MATH.md section 4 (items 1 to 8, 12, 13) and
the truncation and normalisation switches of section 5."""

from __future__ import annotations

import math

import pytest
import torch

from gaitwave.fusion import NormFusion, PostFusion
from gaitwave.losses import CircleLoss, TripletLoss

GOLDEN_F = [1.0, 2.0, 3.0, 10.0]
GOLDEN_OMEGA = {  # docs/MATH.md section 1, to 4 decimals
    -1.0: [1.6644, 1.5156, 1.3801, 0.7164],
    0.0: [1.0, 1.0, 1.0, 1.0],
    1.0: [0.5325, 0.5848, 0.6422, 1.2371],
    3.0: [0.1191, 0.1578, 0.2090, 1.4938],
}


def vector(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, requires_grad=True)


def grad_of(fn, part_losses: torch.Tensor) -> torch.Tensor:
    return torch.autograd.grad(fn(part_losses), part_losses)[0]


def omega_closed_form(part_losses: torch.Tensor, exponent: float) -> torch.Tensor:
    """omega_i = a_i**l sum_j F_j / sum_j a_j**l F_j with a = exp(F / ||F||), written plainly."""
    f = part_losses.detach()
    a = torch.exp(f / torch.sqrt((f * f).sum()))
    return a**exponent * f.sum() / (a**exponent * f).sum()


def untruncated(part_losses: torch.Tensor, exponent: float) -> torch.Tensor:
    """Waveloss without the stop-gradient on the weights (m stays detached)."""
    a = torch.exp(part_losses / torch.linalg.vector_norm(part_losses))
    w = (a / torch.linalg.vector_norm(a)) ** exponent
    m = (part_losses.sum() / (w * part_losses).sum()).detach()
    return m / len(part_losses) * (w * part_losses).sum()


def undetached_normaliser(part_losses: torch.Tensor, exponent: float) -> torch.Tensor:
    """The broken public port: weights detached, m not."""
    a = torch.exp(part_losses / torch.linalg.vector_norm(part_losses))
    w = ((a / torch.linalg.vector_norm(a)) ** exponent).detach()
    m = part_losses.sum() / (w * part_losses).sum()
    return m / len(part_losses) * (w * part_losses).sum()


def test_exponent_zero_is_post_fusion_in_value_and_gradient() -> None:
    f = vector([0.3, 2.0, 7.5, 1.1, 4.0])
    fusion = NormFusion(0.0)
    torch.testing.assert_close(fusion.reduce(f), f.mean())
    torch.testing.assert_close(grad_of(fusion.reduce, f), torch.full((5,), 1 / 5).double())
    x = torch.randn(12, 6, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.arange(3).repeat_interleave(4)
    loss = TripletLoss()
    norm_grad = torch.autograd.grad(fusion(loss, x, labels), x)[0]
    post_grad = torch.autograd.grad(PostFusion()(loss, x, labels), x)[0]
    torch.testing.assert_close(norm_grad, post_grad)


@pytest.mark.parametrize("exponent", [-1.0, 0.5, 1.0, 3.0])
def test_value_is_mean_of_part_losses(exponent: float) -> None:
    for f in (vector(GOLDEN_F), vector([5.0, 0.1, 0.0, 2.2, 9.0, 3.3])):
        torch.testing.assert_close(NormFusion(exponent).reduce(f), f.mean())


@pytest.mark.parametrize("exponent", sorted(GOLDEN_OMEGA))
def test_golden_gradient_and_weights(exponent: float) -> None:
    f = vector(GOLDEN_F)
    fusion = NormFusion(exponent)
    golden = torch.tensor(GOLDEN_OMEGA[exponent], dtype=torch.float64)
    torch.testing.assert_close(grad_of(fusion.reduce, f) * 4, golden, atol=1e-4, rtol=0)
    torch.testing.assert_close(fusion.weights(f), golden, atol=1e-4, rtol=0)
    torch.testing.assert_close(fusion.weights(f), omega_closed_form(f, exponent))


@pytest.mark.parametrize("exponent", [-1.0, 0.5, 1.0, 3.0])
def test_gradient_is_omega_over_parts(exponent: float) -> None:
    gen = torch.Generator().manual_seed(5)
    f = (torch.rand(16, generator=gen, dtype=torch.float64) * 10).requires_grad_()
    grad = grad_of(NormFusion(exponent).reduce, f)
    torch.testing.assert_close(grad, omega_closed_form(f, exponent) / 16)


def test_closed_form_gradient_through_a_base_loss() -> None:
    x = torch.randn(12, 6, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.arange(3).repeat_interleave(4)
    loss, fusion = CircleLoss(gamma=32.0), NormFusion(2.0)
    grad = torch.autograd.grad(fusion(loss, x, labels), x)[0]
    part_losses = loss(x, labels)
    omega = omega_closed_form(part_losses, 2.0)
    expected = torch.autograd.grad((omega / 8 * part_losses).sum(), x)[0]
    torch.testing.assert_close(grad, expected)


def test_weights_carry_no_gradient_and_truncation_matters() -> None:
    f = vector(GOLDEN_F)
    fusion = NormFusion(1.0)
    assert not fusion.weights(f).requires_grad
    fusion.reduce(f)
    assert not fusion.last_weights.requires_grad
    assert not fusion.last_part_losses.requires_grad
    truncated = grad_of(fusion.reduce, f)
    full = grad_of(lambda v: untruncated(v, 1.0), f)
    assert (truncated - full).abs().max() > 1e-3


@pytest.mark.parametrize("exponent", [-1.0, 0.5, 1.0, 3.0])
def test_gradient_differs_from_post_fusion(exponent: float) -> None:
    f = vector(GOLDEN_F)
    post = torch.full((4,), 0.25, dtype=torch.float64)
    assert (grad_of(NormFusion(exponent).reduce, f) - post).abs().max() > 1e-3
    # The check has teeth: an undetached m collapses to the post-fusion gradient.
    broken = grad_of(lambda v: undetached_normaliser(v, exponent), f)
    torch.testing.assert_close(broken, post)


def test_monotone_preference() -> None:
    f = vector([0.5, 1.0, 2.0, 4.0, 8.0])
    for exponent in (0.5, 1.0, 3.0):
        assert torch.all(NormFusion(exponent).weights(f).diff() > 0)
        assert torch.all(NormFusion(-exponent).weights(f).diff() < 0)
    ratios = [
        (lambda w: (w[-1] / w[0]).item())(NormFusion(exponent).weights(f))
        for exponent in (-3.0, -1.0, 0.0, 0.5, 1.0, 3.0)
    ]
    assert ratios == sorted(ratios) and len(set(ratios)) == len(ratios)


@pytest.mark.parametrize("exponent", [-3.0, -1.0, 0.5, 1.0, 3.0])
def test_bounds_and_invariances(exponent: float) -> None:
    gen = torch.Generator().manual_seed(6)
    f = torch.rand(64, generator=gen, dtype=torch.float64) * 5
    f[3] = 200.0  # one dominant part: the tilt is as strong as it gets
    fusion = NormFusion(exponent)
    omega = fusion.weights(f)
    assert omega.max() / omega.min() <= math.exp(abs(exponent)) * (1 + 1e-12)
    torch.testing.assert_close(fusion.weights(f * 37.5), omega)
    order = torch.randperm(64, generator=gen)
    torch.testing.assert_close(fusion.weights(f[order]), omega[order])
    single = vector([2.5])
    value = fusion.reduce(single)
    torch.testing.assert_close(value, single[0])
    torch.testing.assert_close(grad_of(fusion.reduce, single), torch.ones(1).double())


@pytest.mark.parametrize("exponent", [-3.0, 0.0, 3.0])
def test_degenerate_inputs(exponent: float) -> None:
    fusion = NormFusion(exponent)
    zeros = torch.zeros(8, requires_grad=True)
    value = fusion.reduce(zeros)
    assert value.item() == 0 and value.grad_fn is not None
    assert torch.isfinite(grad_of(fusion.reduce, zeros)).all()
    one_part = torch.tensor([0.0, 0.0, 3.0, 0.0], requires_grad=True)
    torch.testing.assert_close(fusion.reduce(one_part), torch.tensor(0.75))
    omega = fusion.weights(one_part)
    torch.testing.assert_close(omega[2], torch.tensor(1.0))
    torch.testing.assert_close(grad_of(fusion.reduce, one_part), omega / 4)
    large = (240.0 + torch.randn(64)).requires_grad_()  # circle loss at init, fp32
    value = fusion.reduce(large)
    grad = grad_of(fusion.reduce, large)
    assert value.dtype == torch.float32 and torch.isfinite(value) and torch.isfinite(grad).all()
    torch.testing.assert_close(value, large.mean())


def test_circle_loss_scale_part_losses_through_fusion_in_fp32() -> None:
    x = torch.randn(16, 32, 64, requires_grad=True)
    labels = torch.arange(4).repeat_interleave(4)
    value = NormFusion(3.0)(CircleLoss(), x, labels)
    value.backward()
    assert value > 100 and torch.isfinite(value) and torch.isfinite(x.grad).all()


def test_gradcheck_at_exponent_zero() -> None:
    fusion = NormFusion(0.0)
    f = (torch.rand(6, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(fusion.reduce, (f,))
    x = torch.randn(6, 3, 2, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = TripletLoss(margin=0.5)
    assert torch.autograd.gradcheck(lambda emb: fusion(loss, emb, labels), (x,))


@pytest.mark.parametrize("loss", [TripletLoss(), CircleLoss()], ids=["triplet", "circle"])
def test_bf16_autocast_gives_finite_fp32_loss(loss: torch.nn.Module) -> None:
    layer = torch.nn.Linear(32, 16 * 8)
    inputs = torch.randn(16, 32)
    labels = torch.arange(4).repeat_interleave(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = layer(inputs).view(16, 16, 8)
        assert x.dtype == torch.bfloat16
        value = NormFusion(1.0)(loss, x, labels)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(layer.weight.grad).all()


def test_exponent_is_a_checkpointed_float32_buffer() -> None:
    fusion = NormFusion(0.5)
    assert fusion.exponent.dtype == torch.float32 and fusion.exponent.dim() == 0
    fusion.set_exponent(-0.75)
    state = fusion.state_dict()
    assert state["exponent"].item() == -0.75
    restored = NormFusion()
    restored.load_state_dict(state)
    assert restored.exponent.item() == -0.75
    f = vector(GOLDEN_F)
    torch.testing.assert_close(restored.weights(f), omega_closed_form(f, -0.75))


def test_diagnostics_after_forward() -> None:
    x = torch.randn(12, 6, 5)
    labels = torch.arange(3).repeat_interleave(4)
    fusion = NormFusion(1.0)
    assert fusion.last_part_losses is None
    fusion(TripletLoss(), x, labels)
    torch.testing.assert_close(fusion.last_part_losses, TripletLoss()(x, labels))
    torch.testing.assert_close(fusion.last_weights, fusion.weights(fusion.last_part_losses))


def test_bad_part_losses_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"vector \[P\]"):
        NormFusion().reduce(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"vector \[P\]"):
        NormFusion().weights(torch.ones(0))


# docs/MATH.md section 5: (normalize, truncate, l) -> value, 4 * dL/dF on F = [1, 2, 3, 10]
SWITCH_GOLDEN = [
    (True, False, -1.0, 4.0000, [1.6597, 1.4028, 1.1903, 0.7964]),
    (True, False, 1.0, 4.0000, [0.3978, 0.4565, 0.5246, 1.3115]),
    (True, False, 3.0, 4.0000, [-0.4496, -0.5638, -0.6543, 1.9540]),
    (False, True, -1.0, 7.2329, [3.0096, 2.7405, 2.4955, 1.2955]),
    (False, True, 1.0, 2.4959, [0.3323, 0.3649, 0.4007, 0.7719]),
    (False, True, 3.0, 1.2316, [0.0367, 0.0486, 0.0643, 0.4600]),
    (False, False, -1.0, 7.2329, [3.0012, 2.5366, 2.1524, 1.4400]),
    (False, False, 1.0, 2.4959, [0.2482, 0.2849, 0.3274, 0.8183]),
    (False, False, 3.0, 1.2316, [-0.1384, -0.1736, -0.2015, 0.6016]),
]


@pytest.mark.parametrize(("normalize", "truncate", "exponent", "value", "grad"), SWITCH_GOLDEN)
def test_switches_golden_table(
    normalize: bool, truncate: bool, exponent: float, value: float, grad: list[float]
) -> None:
    fusion = NormFusion(exponent, truncate=truncate, normalize=normalize)
    part_losses = vector(GOLDEN_F)
    loss = fusion.reduce(part_losses)
    (gradient,) = torch.autograd.grad(loss, part_losses)
    assert loss.item() == pytest.approx(value, abs=5e-5)
    torch.testing.assert_close(
        4 * gradient, torch.tensor(grad, dtype=torch.float64), atol=5e-5, rtol=0
    )


def test_switches_off_match_the_plain_formulas() -> None:
    """Without truncation the gradient is that of the un-truncated formula; without
    normalisation the value is `mean(w * F)` with the plain weights."""
    part_losses = vector([0.3, 1.7, 0.9, 2.4, 0.1])
    for exponent in (-2.0, 0.7, 2.0):
        bare = NormFusion(exponent, truncate=False, normalize=True)
        expected = grad_of(lambda f, e=exponent: untruncated(f, e), part_losses)
        torch.testing.assert_close(grad_of(bare.reduce, part_losses), expected)
        f = part_losses.detach()
        a = torch.exp(f / torch.linalg.vector_norm(f))
        w = (a / torch.linalg.vector_norm(a)) ** exponent
        unnormalised = NormFusion(exponent, truncate=True, normalize=False)
        assert unnormalised.reduce(part_losses).item() == pytest.approx((w * f).mean().item())


@pytest.mark.parametrize(("normalize", "truncate"), [(True, False), (False, True), (False, False)])
def test_switches_at_exponent_zero_and_degenerate_inputs(normalize: bool, truncate: bool) -> None:
    """l = 0: every variant is post-fusion up to the constant 1 / ||a||^0 = 1; zero F: finite."""
    part_losses = vector([0.5, 1.5, 4.0])
    fusion = NormFusion(0.0, truncate=truncate, normalize=normalize)
    assert fusion.reduce(part_losses).item() == pytest.approx(2.0)
    torch.testing.assert_close(
        grad_of(fusion.reduce, part_losses), torch.full((3,), 1 / 3).double()
    )
    for values in ([0.0, 0.0, 0.0], [0.0, 0.0, 5.0]):
        zeros = vector(values, dtype=torch.float32)
        gradient = grad_of(NormFusion(2.0, truncate=truncate, normalize=normalize).reduce, zeros)
        assert torch.isfinite(gradient).all()

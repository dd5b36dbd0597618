"""What `fusion=...` means on the command line (docs/MATH.md section 5): `fusion=norm` alone is
Waveloss as the paper ran it, no key is dead, and a schedule where it cannot act is an error."""

from __future__ import annotations

import pytest
import torch
from hydra.errors import ConfigCompositionException

from gaitwave.build import build_terms
from gaitwave.fusion import ExponentSchedule, NormFusion, PostFusion, PreFusion
from gaitwave.losses import TripletLoss


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(16 * 8, 8, 16, generator=gen, dtype=torch.float64)
    emb[:, :, :4] *= 3.0  # some parts much harder than others
    return emb, torch.arange(16).repeat_interleave(8)


def test_default_and_fusion_norm_are_the_papers_waveloss(compose_config) -> None:
    for overrides in ([], ["fusion=norm"]):
        terms = build_terms(compose_config("train", *overrides).loss)
        for term in terms.values():
            fusion = term.fusion
            assert isinstance(fusion, NormFusion)
            assert fusion.truncate and fusion.normalize
            assert fusion.schedule == ExponentSchedule(mode="abs", l_min=-1.0, l_max=1.0, cycles=4)


def test_fusion_norm_is_not_post_fusion_during_training(compose_config) -> None:
    """Away from step 0 the scheduled exponent is not 0, so the gradient differs from post."""
    fusion = build_terms(compose_config("train", "fusion=norm").loss)["triplet"].fusion
    fusion.set_exponent(fusion.schedule(150, 600))  # one quarter of the way: l = 1
    assert fusion.exponent.item() == pytest.approx(1.0)
    emb, labels = batch()
    grads = []
    for f in (fusion, PostFusion()):
        x = emb.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(f(TripletLoss(), x, labels), x)[0])
    assert (grads[0] - grads[1]).abs().max() > 1e-4


def test_fusion_options_and_switches(compose_config) -> None:
    def fusion_of(*overrides: str):
        return build_terms(compose_config("train", *overrides).loss)["triplet"].fusion

    assert type(fusion_of("fusion=post")) is PostFusion
    assert type(fusion_of("fusion=pre")) is PreFusion
    static = fusion_of("fusion/schedule=static", "fusion.schedule.value=-1")
    assert static.schedule == ExponentSchedule(mode="static", value=-1.0)
    assert static.exponent.item() == -1.0
    ranged = fusion_of(
        "fusion.schedule.l_min=-8", "fusion.schedule.l_max=2", "fusion.schedule.cycles=2"
    )
    assert (ranged.schedule.l_min, ranged.schedule.l_max, ranged.schedule.cycles) == (-8, 2, 2)
    bare = fusion_of("fusion.truncate=false", "fusion.normalize=false")
    assert not bare.truncate and not bare.normalize


def test_one_terms_fusion_set_on_the_command_line(compose_config) -> None:
    """The documented per-term override: the CE term post-fusion, the metric term Waveloss."""
    cfg = compose_config("train", "loss.softmax.fusion={_target_:gaitwave.fusion.PostFusion}")
    terms = build_terms(cfg.loss)
    assert type(terms["softmax"].fusion) is PostFusion
    assert isinstance(terms["triplet"].fusion, NormFusion)
    assert terms["triplet"].fusion.schedule is not None


@pytest.mark.parametrize(
    "override",
    [
        "fusion.exponent=1",  # the old dead key: norm-fusion's l comes from its schedule
        "fusion.schedule.value=1",  # value belongs to the static schedule
        "exponent=sine",  # the old group: the schedule travels with fusion=norm now
        "fusion=post fusion.schedule.l_min=0",  # post-fusion has no schedule
        "fusion/schedule=nope",
    ],
)
def test_dead_or_misplaced_keys_fail_at_composition(compose_config, override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        compose_config("train", *override.split())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["fusion.schedule.l_min=2", "fusion.schedule.l_max=1"],
            r"loss\.triplet\.fusion\.schedule.*l_min \(2\) must be <= l_max \(1\)",
        ),
        (
            ["fusion=post", "+fusion.schedule={_target_:gaitwave.fusion.ExponentSchedule}"],
            r"loss\.triplet\.fusion\.schedule: an exponent schedule only acts on norm-fusion",
        ),
        (
            ["loss.softmax.fusion={_target_:gaitwave.fusion.PostFusion,schedule:{l_min:0}}"],
            r"loss\.softmax\.fusion\.schedule: an exponent schedule only acts on norm-fusion",
        ),
        (["fusion.schedule.cycles=0"], r"loss\.triplet\.fusion\.schedule.*cycles"),
        (["fusion.schedule.mode=sine"], r"loss\.triplet\.fusion\.schedule.*mode"),
    ],
)
def test_bad_schedules_fail_at_start_naming_the_key(
    compose_config, overrides: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_terms(compose_config("train", *overrides).loss)


def test_every_base_loss_meets_the_part_loss_contract() -> None:
    """The fusions rely on `scores` and `part_losses` (gaitwave.losses.base.PartLoss), and
    `loss(x, labels) == loss.part_losses(loss.scores(x), labels)`."""
    from gaitwave.losses import CircleLoss, SoftmaxLoss
    from gaitwave.losses.base import PartLoss

    gen = torch.Generator().manual_seed(1)
    emb = torch.randn(8, 4, 3, generator=gen, dtype=torch.float64)
    logits = torch.randn(8, 5, 3, generator=gen, dtype=torch.float64).tanh()
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for loss, x in ((TripletLoss(), emb), (CircleLoss(gamma=32.0), emb), (SoftmaxLoss(), logits)):
        assert isinstance(loss, PartLoss)
        torch.testing.assert_close(loss(x, labels), loss.part_losses(loss.scores(x), labels))
    assert not isinstance(torch.nn.Linear(2, 2), PartLoss)

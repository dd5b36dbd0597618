"""ExponentCallback on a tiny LightningModule: each term's own schedule, resume, logging."""

from __future__ import annotations

import os
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gaitwave.callbacks import ExponentCallback
from gaitwave.fusion import ExponentSchedule, NormFusion, PostFusion
from gaitwave.fusion.exponent import exponent_at
from gaitwave.losses import CircleLoss, TripletLoss

os.environ.setdefault("WANDB_MODE", "disabled")

PARTS = 3
BATCHES_PER_EPOCH = 5


class Term(nn.Module):
    """A loss term as the model holds it: `loss`, `fusion`, `weight`."""

    def __init__(self, loss: nn.Module, fusion: nn.Module, weight: float = 1.0) -> None:
        super().__init__()
        self.loss, self.fusion, self.weight = loss, fusion, weight


SCHEDULE = {"mode": "abs", "l_min": -1.0, "l_max": 2.0, "cycles": 3}
# the circle term moves on its own schedule
CIRCLE_SCHEDULE = {"mode": "affine", "l_min": 0.0, "l_max": 4.0, "cycles": 1}


class TinyModule(pl.LightningModule):
    """Linear embeddings `[N, 4, PARTS]` with two scheduled Waveloss terms (each its own
    schedule) and a post-fusion term."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 4 * PARTS)
        self.terms = nn.ModuleDict(
            {
                "triplet": Term(TripletLoss(), NormFusion(schedule=ExponentSchedule(**SCHEDULE))),
                "circle": Term(
                    CircleLoss(gamma=32.0), NormFusion(schedule=ExponentSchedule(**CIRCLE_SCHEDULE))
                ),
                "plain": Term(TripletLoss(), PostFusion(), weight=0.5),
            }
        )
        self.exponents: list[tuple[int, float, float]] = []
        self.part_losses: dict[int, torch.Tensor] = {}

    def training_step(self, batch, batch_idx):
        inputs, labels = batch
        emb = self.net(inputs).view(-1, 4, PARTS)
        triplet, circle = self.terms["triplet"].fusion, self.terms["circle"].fusion
        self.exponents.append((self.global_step, triplet.exponent.item(), circle.exponent.item()))
        loss = sum(
            term.weight * term.fusion(term.loss, emb, labels) for term in self.terms.values()
        )
        self.part_losses[self.global_step] = triplet.last_part_losses.clone()
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(0)
        inputs = torch.randn(8 * BATCHES_PER_EPOCH, 8, generator=gen)
        labels = torch.arange(4).repeat_interleave(2).repeat(BATCHES_PER_EPOCH)
        return DataLoader(TensorDataset(inputs, labels), batch_size=8)


class StopAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def expected_exponents(total_steps: int, schedule: dict = SCHEDULE) -> list[float]:
    return [exponent_at(t, total_steps, **schedule) for t in range(total_steps)]


def test_sets_each_norm_fusion_from_its_own_schedule(tmp_path: Path, make_trainer) -> None:
    model = TinyModule()
    make_trainer(tmp_path, [ExponentCallback()], max_steps=12).fit(model)
    steps = [step for step, _, _ in model.exponents]
    assert steps == list(range(12))
    triplet = [triplet for _, triplet, _ in model.exponents]
    circle = [circle for _, _, circle in model.exponents]
    assert triplet == pytest.approx(expected_exponents(12), abs=1e-6)
    assert circle == pytest.approx(expected_exponents(12, CIRCLE_SCHEDULE), abs=1e-6)
    assert triplet != pytest.approx(circle, abs=1e-3)


def test_a_fusion_starts_at_its_schedules_first_value_and_a_constant_stays() -> None:
    assert NormFusion(schedule=ExponentSchedule(**CIRCLE_SCHEDULE)).exponent.item() == 2.0
    static = NormFusion(schedule=ExponentSchedule(mode="static", value=-1.5))
    assert static.exponent.item() == -1.5
    assert NormFusion(exponent=0.5).schedule is None
    with pytest.raises(ValueError, match="not both"):
        NormFusion(exponent=1.0, schedule=ExponentSchedule())


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint")
def test_resume_from_checkpoint_continues_the_schedule(tmp_path: Path, make_trainer) -> None:
    total, interrupted_at = 12, 7
    uninterrupted = TinyModule()
    make_trainer(tmp_path / "a", [ExponentCallback()], max_steps=total).fit(uninterrupted)

    first = TinyModule()
    trainer = make_trainer(
        tmp_path / "b", [ExponentCallback(), StopAt(interrupted_at)], max_steps=total
    )
    trainer.fit(first)
    assert trainer.global_step == interrupted_at
    checkpoint = tmp_path / "interrupted.ckpt"
    trainer.save_checkpoint(checkpoint)
    state = torch.load(checkpoint, weights_only=False)["state_dict"]
    saved = state["terms.triplet.fusion.exponent"]
    assert saved.dtype == torch.float32
    assert saved.item() == pytest.approx(expected_exponents(total)[interrupted_at - 1], abs=1e-6)

    second = TinyModule()
    make_trainer(tmp_path / "c", [ExponentCallback()], max_steps=total).fit(
        second, ckpt_path=checkpoint
    )
    assert second.terms["triplet"].fusion.exponent.item() == pytest.approx(
        uninterrupted.terms["triplet"].fusion.exponent.item()
    )
    resumed = first.exponents + second.exponents
    assert [step for step, _, _ in resumed] == list(range(total))
    assert resumed == uninterrupted.exponents


def test_total_steps_from_max_epochs(tmp_path: Path, make_trainer) -> None:
    model = TinyModule()
    make_trainer(tmp_path, [ExponentCallback()], max_epochs=2).fit(model)
    total = 2 * BATCHES_PER_EPOCH
    assert [triplet for _, triplet, _ in model.exponents] == pytest.approx(
        expected_exponents(total), abs=1e-6
    )


def test_logs_each_terms_exponent_to_every_logger(
    tmp_path: Path, memory_logger, make_trainer
) -> None:
    loggers = [memory_logger(), memory_logger()]
    make_trainer(tmp_path, [ExponentCallback()], logger=loggers, max_steps=10).fit(TinyModule())
    assert loggers[0].history == loggers[1].history
    for term, schedule in (("triplet", SCHEDULE), ("circle", CIRCLE_SCHEDULE)):
        key = f"train/exponent/{term}"
        logged = {step: metrics[key] for step, metrics in loggers[0].history if key in metrics}
        assert logged == pytest.approx(dict(enumerate(expected_exponents(10, schedule))), abs=1e-6)
    assert not any("train/exponent/plain" in m for _, m in loggers[0].history)


@pytest.mark.parametrize("circle", ["constant", "same schedule"])
def test_one_schedule_logs_train_exponent(
    tmp_path: Path, circle: str, memory_logger, make_trainer
) -> None:
    model = TinyModule()
    fusion = model.terms["circle"].fusion
    fusion.schedule = None if circle == "constant" else ExponentSchedule(**SCHEDULE)
    logger = memory_logger()
    make_trainer(tmp_path, [ExponentCallback()], logger=logger, max_steps=4).fit(model)
    logged = [m["train/exponent"] for _, m in logger.history if "train/exponent" in m]
    assert logged == pytest.approx(expected_exponents(4), abs=1e-6)
    assert not any("train/exponent/triplet" in m for _, m in logger.history)
    circles = [c for _, _, c in model.exponents]
    assert circles == ([2.0] * 4 if circle == "constant" else pytest.approx(logged, abs=1e-6))


def test_unbounded_training_raises_a_clear_error(tmp_path: Path, make_trainer) -> None:
    trainer = make_trainer(tmp_path, [ExponentCallback()], max_steps=-1, max_epochs=-1)
    with pytest.raises(ValueError, match="max_steps"):
        trainer.fit(TinyModule())


def test_bad_schedules_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="mode"):
        ExponentSchedule(mode="sine")
    with pytest.raises(ValueError, match="l_min"):
        ExponentSchedule(l_min=2.0, l_max=1.0)
    with pytest.raises(ValueError, match="value"):
        ExponentSchedule(mode="static")
    with pytest.raises(ValueError, match="static only"):
        ExponentSchedule(mode="abs", value=1.0)
    with pytest.raises(ValueError, match="cycles"):
        ExponentSchedule(cycles=0)

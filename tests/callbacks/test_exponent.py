"""ExponentSchedule on a tiny LightningModule: schedule, resume, logging and diagnostics."""

from __future__ import annotations

import math
import os
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gaitwave.callbacks import ExponentSchedule
from gaitwave.fusion import NormFusion, PostFusion
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


class TinyModule(pl.LightningModule):
    """Linear embeddings `[N, 4, PARTS]` with two Waveloss terms and a post-fusion term."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 4 * PARTS)
        self.terms = nn.ModuleDict(
            {
                "triplet": Term(TripletLoss(), NormFusion()),
                "circle": Term(CircleLoss(gamma=32.0), NormFusion()),
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


class MemoryLogger(Logger):
    """Keeps every `log_metrics` call as `(step, metrics)`."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.history.append((step, dict(metrics)))


class StopAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def make_trainer(tmp_path: Path, callbacks: list, logger=False, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        callbacks=callbacks,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


SCHEDULE = {"mode": "abs", "l_min": -1.0, "l_max": 2.0, "cycles": 3}


def expected_exponents(total_steps: int) -> list[float]:
    return [exponent_at(t, total_steps, **SCHEDULE) for t in range(total_steps)]


def test_sets_every_norm_fusion_from_global_step(tmp_path: Path) -> None:
    model = TinyModule()
    make_trainer(tmp_path, [ExponentSchedule(**SCHEDULE)], max_steps=12).fit(model)
    steps = [step for step, _, _ in model.exponents]
    assert steps == list(range(12))
    expected = expected_exponents(12)
    assert [triplet for _, triplet, _ in model.exponents] == pytest.approx(expected, abs=1e-6)
    assert [circle for _, _, circle in model.exponents] == pytest.approx(expected, abs=1e-6)


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint")
def test_resume_from_checkpoint_continues_the_schedule(tmp_path: Path) -> None:
    total, interrupted_at = 12, 7
    uninterrupted = TinyModule()
    make_trainer(tmp_path / "a", [ExponentSchedule(**SCHEDULE)], max_steps=total).fit(uninterrupted)

    first = TinyModule()
    trainer = make_trainer(
        tmp_path / "b", [ExponentSchedule(**SCHEDULE), StopAt(interrupted_at)], max_steps=total
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
    make_trainer(tmp_path / "c", [ExponentSchedule(**SCHEDULE)], max_steps=total).fit(
        second, ckpt_path=checkpoint
    )
    assert second.terms["triplet"].fusion.exponent.item() == pytest.approx(
        uninterrupted.terms["triplet"].fusion.exponent.item()
    )
    resumed = first.exponents + second.exponents
    assert [step for step, _, _ in resumed] == list(range(total))
    assert resumed == uninterrupted.exponents


def test_total_steps_from_max_epochs(tmp_path: Path) -> None:
    model = TinyModule()
    make_trainer(tmp_path, [ExponentSchedule(**SCHEDULE)], max_epochs=2).fit(model)
    total = 2 * BATCHES_PER_EPOCH
    assert [triplet for _, triplet, _ in model.exponents] == pytest.approx(
        expected_exponents(total), abs=1e-6
    )


def test_logs_exponent_and_diagnostics_to_every_logger(tmp_path: Path) -> None:
    loggers = [MemoryLogger(), MemoryLogger()]
    model = TinyModule()
    callback = ExponentSchedule(**SCHEDULE, diagnostics_every_n_steps=3)
    make_trainer(tmp_path, [callback], logger=loggers, max_steps=10).fit(model)
    assert loggers[0].history == loggers[1].history

    exponents = {
        step: metrics["train/exponent"]
        for step, metrics in loggers[0].history
        if "train/exponent" in metrics
    }
    assert exponents == pytest.approx(dict(enumerate(expected_exponents(10))), abs=1e-6)

    diagnostics = {
        step: metrics
        for step, metrics in loggers[0].history
        if any(key.startswith("diag/") for key in metrics)
    }
    assert sorted(diagnostics) == [0, 3, 6, 9]
    for step, metrics in diagnostics.items():
        prefix = "diag/terms.triplet.fusion"
        part_losses = torch.tensor(
            [metrics[f"{prefix}/F/p{p:02d}"] for p in range(PARTS)], dtype=torch.float64
        )
        torch.testing.assert_close(part_losses, model.part_losses[step].double())
        omega = torch.tensor(
            [metrics[f"{prefix}/omega/p{p:02d}"] for p in range(PARTS)], dtype=torch.float64
        )
        fusion = NormFusion(exponent_at(step, 10, **SCHEDULE))
        torch.testing.assert_close(omega, fusion.weights(part_losses), rtol=1e-5, atol=1e-6)
        assert metrics[f"{prefix}/omega_max"] == pytest.approx(omega.max().item())
        assert metrics[f"{prefix}/omega_min"] == pytest.approx(omega.min().item())
        shares = omega / omega.sum()
        entropy = -sum(s * math.log(s) for s in shares.tolist())
        assert metrics[f"{prefix}/omega_entropy"] == pytest.approx(entropy)
        assert metrics[f"{prefix}/F_max"] == pytest.approx(part_losses.max().item())
        assert f"diag/terms.circle.fusion/omega/p{PARTS - 1:02d}" in metrics
        plain = [metrics[f"diag/terms.plain.fusion/omega/p{p:02d}"] for p in range(PARTS)]
        assert plain == [1.0] * PARTS
        assert metrics["diag/terms.plain.fusion/omega_entropy"] == pytest.approx(math.log(PARTS))


def test_unbounded_training_raises_a_clear_error(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [ExponentSchedule()], max_steps=-1, max_epochs=-1)
    with pytest.raises(ValueError, match="max_steps"):
        trainer.fit(TinyModule())


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="mode"):
        ExponentSchedule(mode="sine")
    with pytest.raises(ValueError, match="l_min"):
        ExponentSchedule(l_min=2.0, l_max=1.0)
    with pytest.raises(ValueError, match="diagnostics_every_n_steps"):
        ExponentSchedule(diagnostics_every_n_steps=-1)

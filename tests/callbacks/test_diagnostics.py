"""FusionDiagnostics: F and omega of every fusion, with or without an exponent schedule."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gaitwave.analysis.weights import FUSION_WEIGHTS_CSV as CSV_NAME
from gaitwave.analysis.weights import read_fusion_log
from gaitwave.callbacks import FusionDiagnostics
from gaitwave.callbacks.diagnostics import PNG_NAME
from gaitwave.fusion import NormFusion, PostFusion, PreFusion
from gaitwave.losses import CircleLoss, TripletLoss

os.environ.setdefault("WANDB_MODE", "disabled")

PARTS = 3
EXPONENT = 2.5  # a constant l: no schedule, no ExponentCallback


class Term(nn.Module):
    def __init__(self, loss: nn.Module, fusion: nn.Module) -> None:
        super().__init__()
        self.loss, self.fusion = loss, fusion


class TinyModule(pl.LightningModule):
    """Linear embeddings `[N, 4, PARTS]`; a norm, a post and a pre-fusion term."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 4 * PARTS)
        self.terms = nn.ModuleDict(
            {
                "triplet": Term(TripletLoss(), NormFusion(exponent=EXPONENT)),
                "plain": Term(TripletLoss(), PostFusion()),
                "pre": Term(CircleLoss(gamma=32.0), PreFusion()),
            }
        )
        self.part_losses: dict[int, torch.Tensor] = {}

    def training_step(self, batch, batch_idx):
        inputs, labels = batch
        emb = self.net(inputs).view(-1, 4, PARTS)
        loss = sum(term.fusion(term.loss, emb, labels) for term in self.terms.values())
        self.part_losses[self.global_step] = self.terms["triplet"].fusion.last_part_losses.clone()
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(0)
        inputs = torch.randn(40, 8, generator=gen)
        labels = torch.arange(4).repeat_interleave(2).repeat(5)
        return DataLoader(TensorDataset(inputs, labels), batch_size=8)


@pytest.fixture
def fit(make_trainer):
    """`fit(tmp_path, callback, loggers, steps, before=())`: train a TinyModule for `steps` with
    the callbacks `before` and then `callback`; returns the model."""

    def train(
        tmp_path: Path, callback: FusionDiagnostics, loggers: list, steps: int, before: tuple = ()
    ) -> TinyModule:
        model = TinyModule()
        make_trainer(tmp_path, [*before, callback], logger=loggers, max_steps=steps).fit(model)
        return model

    return train


def test_logs_F_and_omega_of_every_term_without_a_schedule(
    tmp_path: Path, memory_logger, fit
) -> None:
    loggers = [memory_logger(), memory_logger()]
    model = fit(tmp_path, FusionDiagnostics(every_n_steps=3), loggers, steps=10)
    assert loggers[0].history == loggers[1].history
    diagnostics = {s: m for s, m in loggers[0].history if any(k.startswith("diag/") for k in m)}
    assert sorted(diagnostics) == [0, 3, 6, 9]
    for step, metrics in diagnostics.items():
        prefix = "diag/triplet"
        part_losses = torch.tensor(
            [metrics[f"{prefix}/F/p{p:02d}"] for p in range(PARTS)], dtype=torch.float64
        )
        torch.testing.assert_close(part_losses, model.part_losses[step].double())
        omega = torch.tensor(
            [metrics[f"{prefix}/omega/p{p:02d}"] for p in range(PARTS)], dtype=torch.float64
        )
        expected = NormFusion(exponent=EXPONENT).weights(part_losses)
        torch.testing.assert_close(omega, expected, rtol=1e-5, atol=1e-6)
        assert metrics[f"{prefix}/omega_max"] == pytest.approx(omega.max().item())
        assert metrics[f"{prefix}/omega_min"] == pytest.approx(omega.min().item())
        assert metrics[f"{prefix}/omega_ratio"] == pytest.approx((omega.max() / omega.min()).item())
        shares = omega / omega.sum()
        entropy = -sum(s * math.log(s) for s in shares.tolist())
        assert metrics[f"{prefix}/omega_entropy"] == pytest.approx(entropy)
        assert metrics[f"{prefix}/F_max"] == pytest.approx(part_losses.max().item())
        plain = [metrics[f"diag/plain/omega/p{p:02d}"] for p in range(PARTS)]
        assert plain == [1.0] * PARTS
        assert metrics["diag/plain/omega_entropy"] == pytest.approx(math.log(PARTS))
        assert "diag/pre/F/p00" in metrics and "diag/pre/F/p01" not in metrics


def test_writes_the_weights_csv_and_the_picture(tmp_path: Path, fit) -> None:
    model = fit(tmp_path, FusionDiagnostics(every_n_steps=2), [], steps=6)
    with open(tmp_path / CSV_NAME, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["term"] for r in rows} == {"triplet", "plain", "pre"}
    assert sorted({int(r["step"]) for r in rows}) == [0, 2, 4]
    triplet_at_4 = [float(r["F"]) for r in rows if r["term"] == "triplet" and r["step"] == "4"]
    assert triplet_at_4 == pytest.approx(model.part_losses[4].tolist(), rel=1e-5)
    log = read_fusion_log(tmp_path / CSV_NAME)["triplet"]
    assert log.steps.tolist() == [0, 2, 4] and log.omega.shape == (3, PARTS)
    assert (tmp_path / PNG_NAME).stat().st_size > 0


def test_a_bad_period_is_refused() -> None:
    with pytest.raises(ValueError, match="every_n_steps"):
        FusionDiagnostics(every_n_steps=0)


def test_a_step_with_non_finite_part_losses_is_not_written(
    tmp_path: Path, memory_logger, fit
) -> None:
    """Step 2's inputs are NaN: no row and no logged value for it (the step is skipped by the
    NonFiniteGuard in a real run); the finite steps around it are written."""

    class NaNAtStepTwo(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step == 2:
                batch[0].fill_(float("nan"))

    logger = memory_logger()
    fit(tmp_path, FusionDiagnostics(every_n_steps=1), [logger], steps=4, before=(NaNAtStepTwo(),))
    with open(tmp_path / CSV_NAME, newline="") as f:
        steps = sorted({int(r["step"]) for r in csv.DictReader(f)})
    assert steps[:2] == [0, 1] and 2 not in steps
    logged = [step for step, m in logger.history if any(k.startswith("diag/") for k in m)]
    assert 2 not in logged and {0, 1} <= set(logged)


def test_a_resumed_run_rewrites_the_rows_after_its_checkpoint(tmp_path: Path, fit) -> None:
    """Rows an interrupted run wrote after its last checkpoint go when the run resumes."""
    fit(tmp_path, FusionDiagnostics(every_n_steps=1), [], steps=3)
    resumed = SimpleNamespace(global_step=2, is_global_zero=True, default_root_dir=tmp_path)
    FusionDiagnostics().on_train_start(resumed, TinyModule())
    with open(tmp_path / CSV_NAME, newline="") as f:
        assert sorted({int(r["step"]) for r in csv.DictReader(f)}) == [0, 1]

"""Lightning callback: the Waveloss exponent schedule and per-part fusion diagnostics."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from gaitwave.fusion import NormFusion, PostFusion, PreFusion
from gaitwave.fusion.exponent import MODES, exponent_at

FUSIONS = (NormFusion, PostFusion, PreFusion)


def _total_steps(trainer: pl.Trainer) -> int:
    """T: `trainer.max_steps`, else the steps implied by `max_epochs`."""
    if trainer.max_steps > 0:
        return trainer.max_steps
    estimated = trainer.estimated_stepping_batches
    if not math.isfinite(estimated):
        raise ValueError(
            "ExponentSchedule: the training length is unbounded; set trainer.max_steps (or "
            "trainer.max_epochs) so the exponent schedule knows the total number of steps."
        )
    return int(estimated)


def fusion_diagnostics(name: str, fusion: nn.Module) -> dict[str, float]:
    """Metrics of a fusion's last call, keyed `diag/<name>/...`.

    Per-part losses `F/pXX` and weights `omega/pXX`; `F_min`, `F_max`, `F_mean`; `omega_min`,
    `omega_max` and `omega_entropy`, the entropy (nats) of `omega / sum(omega)` (log P when the
    weights are uniform). Empty if the fusion has not run yet.
    """
    if fusion.last_part_losses is None:
        return {}
    losses = fusion.last_part_losses.double().cpu()
    weights = fusion.last_weights.double().cpu()
    shares = weights / weights.sum()
    entropy = -torch.special.xlogy(shares, shares).sum()
    prefix = f"diag/{name or 'fusion'}"
    width = max(2, len(str(losses.numel() - 1)))
    metrics = {
        f"{prefix}/F_min": losses.min().item(),
        f"{prefix}/F_max": losses.max().item(),
        f"{prefix}/F_mean": losses.mean().item(),
        f"{prefix}/omega_min": weights.min().item(),
        f"{prefix}/omega_max": weights.max().item(),
        f"{prefix}/omega_entropy": entropy.item(),
    }
    for part, (loss, weight) in enumerate(zip(losses.tolist(), weights.tolist(), strict=True)):
        metrics[f"{prefix}/F/p{part:0{width}d}"] = loss
        metrics[f"{prefix}/omega/p{part:0{width}d}"] = weight
    return metrics


class ExponentSchedule(pl.Callback):
    """Sets the exponent of every `NormFusion` of the model before each training batch.

    The exponent is `exponent_at(trainer.global_step, T, l_min, l_max, cycles, mode, value)`
    with T = `trainer.max_steps` (or the steps implied by `max_epochs`); it is logged as
    `train/exponent`. Since the step comes from `global_step` and the exponent is a buffer,
    resuming from a checkpoint continues the schedule exactly.

    Every `diagnostics_every_n_steps` steps (0: never), the per-part losses F and weights omega
    of every fusion module (`NormFusion`, `PostFusion`, `PreFusion`) go to all loggers under
    `diag/<module name>/...` (see `fusion_diagnostics`), at the step of the batch that made them.

    Args:
        mode: "abs" (default), "affine", "literal" or "static" (MATH.md section 2).
        l_min, l_max: the exponent range (default -1, 1).
        cycles: C, the number of cycles over training (default 4).
        value: the exponent of the "static" mode.
        diagnostics_every_n_steps: period of the diagnostics in optimisation steps (default 50).
    """

    def __init__(
        self,
        mode: str = "abs",
        l_min: float = -1.0,
        l_max: float = 1.0,
        cycles: float = 4,
        value: float = 0.0,
        diagnostics_every_n_steps: int = 50,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"ExponentSchedule: mode must be one of {MODES}, got {mode!r}.")
        if diagnostics_every_n_steps < 0:
            raise ValueError(
                "ExponentSchedule: diagnostics_every_n_steps must be >= 0 (0 disables them), "
                f"got {diagnostics_every_n_steps}."
            )
        exponent_at(0, 1, l_min, l_max, cycles, mode, value)  # fail early on a bad range
        self.mode = mode
        self.l_min = float(l_min)
        self.l_max = float(l_max)
        self.cycles = cycles
        self.value = float(value)
        self.diagnostics_every_n_steps = diagnostics_every_n_steps
        self._total_steps = 0  # T, set when training starts
        self._batch_step = 0
        self._last_diagnosed_step = -1

    def exponent(self, step: int, total_steps: int) -> float:
        """The exponent at `step` of `total_steps`."""
        return exponent_at(
            step, total_steps, self.l_min, self.l_max, self.cycles, self.mode, self.value
        )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._total_steps = _total_steps(trainer)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_step = trainer.global_step
        exponent = self.exponent(trainer.global_step, self._total_steps)
        for module in pl_module.modules():
            if isinstance(module, NormFusion):
                module.set_exponent(exponent)
        pl_module.log("train/exponent", exponent, on_step=True, on_epoch=False)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        every = self.diagnostics_every_n_steps
        step = self._batch_step
        if every == 0 or step % every != 0 or step == self._last_diagnosed_step:
            return
        self._last_diagnosed_step = step
        metrics: dict[str, float] = {}
        for name, module in pl_module.named_modules():
            if isinstance(module, FUSIONS):
                metrics.update(fusion_diagnostics(name, module))
        if metrics:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)

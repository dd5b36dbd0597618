"""Lightning callback: per-part losses F and weights omega of every fusion, over training.

Every `every_n_steps` steps the last F and omega of each loss term's fusion go to all loggers
(`diag/<term>/...`) and to `fusion_weights.csv` in the run folder (one row per step, term and
part; appended, so a resumed run keeps the rows written before it stopped). When training ends,
`fusion_weights.png` shows omega per part over training for every term with more than one part
(a step x part heatmap), and W&B loggers get it as the image `train/fusion_weights`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from matplotlib.figure import Figure

from gaitwave.analysis.weights import (
    FUSION_WEIGHTS_COLUMNS,
    FUSION_WEIGHTS_CSV,
    PartLog,
    read_fusion_log,
)
from gaitwave.atomic import atomic_write
from gaitwave.callbacks.exponent import term_label
from gaitwave.fusion import Fusion

PNG_NAME = "fusion_weights.png"


def _finite(fusion: Fusion) -> bool:
    """Whether the fusion's last part losses and weights are all finite."""
    return bool(
        torch.isfinite(fusion.last_part_losses).all() and torch.isfinite(fusion.last_weights).all()
    )


def fusion_diagnostics(name: str, fusion: Fusion) -> dict[str, float]:
    """Metrics of a fusion's last call, keyed `diag/<name>/...`.

    Per-part losses `F/pXX` and weights `omega/pXX`; `F_min`, `F_max`, `F_mean`; `omega_min`,
    `omega_max`, `omega_ratio` (max / min) and `omega_entropy`, the entropy (nats) of
    `omega / sum(omega)` (log P when the weights are uniform). Empty before the first call.
    """
    if fusion.last_part_losses is None:
        return {}
    losses = fusion.last_part_losses.double().cpu()
    weights = fusion.last_weights.double().cpu()
    shares = weights / weights.sum()
    entropy = -torch.special.xlogy(shares, shares).sum()
    prefix = f"diag/{name}"
    width = max(2, len(str(losses.numel() - 1)))
    metrics = {
        f"{prefix}/F_min": losses.min().item(),
        f"{prefix}/F_max": losses.max().item(),
        f"{prefix}/F_mean": losses.mean().item(),
        f"{prefix}/omega_min": weights.min().item(),
        f"{prefix}/omega_max": weights.max().item(),
        f"{prefix}/omega_ratio": (weights.max() / weights.min()).item(),
        f"{prefix}/omega_entropy": entropy.item(),
    }
    for part, (loss, weight) in enumerate(zip(losses.tolist(), weights.tolist(), strict=True)):
        metrics[f"{prefix}/F/p{part:0{width}d}"] = loss
        metrics[f"{prefix}/omega/p{part:0{width}d}"] = weight
    return metrics


def draw_weights(logs: dict[str, PartLog], path: Path) -> Path | None:
    """One heatmap per term (parts x logged steps, colour omega) into `path`; None when no term
    has more than one part."""
    terms = {t: (log.steps, log.omega) for t, log in logs.items() if log.omega.shape[1] > 1}
    if not terms:
        return None
    fig = Figure(figsize=(8, 2.6 * len(terms)), layout="constrained")
    for ax, (term, (steps, omega)) in zip(
        fig.subplots(len(terms), 1, squeeze=False)[:, 0], terms.items(), strict=True
    ):
        image = ax.imshow(
            omega.T,
            aspect="auto",
            origin="lower",
            cmap="coolwarm",
            extent=(steps[0] - 0.5, steps[-1] + 0.5, -0.5, omega.shape[1] - 0.5),
            interpolation="nearest",
        )
        ratio = np.nanmax(omega, axis=1) / np.nanmin(omega, axis=1)
        ax.set_title(f"{term}: omega per part (max/min over training {np.nanmax(ratio):.3f})")
        ax.set_xlabel("training step")
        ax.set_ylabel("part")
        fig.colorbar(image, ax=ax, label="omega")
    fig.savefig(path, dpi=110)
    return path


class FusionDiagnostics(pl.Callback):
    """Logs F and omega of every fusion every `every_n_steps` steps and draws omega over training.

    Args:
        every_n_steps: period in optimisation steps (> 0), counted from step 0.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        if every_n_steps <= 0:
            raise ValueError(
                f"FusionDiagnostics: every_n_steps must be > 0, got {every_n_steps}; to turn the "
                "diagnostics off, leave the callback out (callbacks.fusion_diagnostics=null)"
            )
        self.every_n_steps = every_n_steps
        self._batch_step = 0
        self._last_step = -1

    def _csv_path(self, trainer: pl.Trainer) -> Path:
        return Path(trainer.default_root_dir) / FUSION_WEIGHTS_CSV

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """A resumed run rewrites the steps from its checkpoint on: the rows an interrupted
        run wrote after that checkpoint go (they are written again, the same)."""
        path = self._csv_path(trainer)
        if not trainer.is_global_zero or not path.is_file():
            return
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        kept = [row for row in rows[1:] if int(row[0]) < trainer.global_step]
        with atomic_write(path, "w", fsync=False) as f:
            csv.writer(f).writerows([rows[0], *kept])

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_step = trainer.global_step

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = self._batch_step
        if step % self.every_n_steps != 0 or step == self._last_step:
            return
        self._last_step = step
        fusions = {
            term_label(name): module
            for name, module in pl_module.named_modules()
            if isinstance(module, Fusion) and module.last_part_losses is not None
        }
        if not all(_finite(fusion) for fusion in fusions.values()):
            return  # a step the NonFiniteGuard skips: nothing non-finite reaches the files
        metrics: dict[str, float] = {}
        for term, fusion in fusions.items():
            metrics.update(fusion_diagnostics(term, fusion))
        if not metrics:
            return
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        if trainer.is_global_zero:
            self._append_rows(trainer, step, fusions)

    def _append_rows(self, trainer: pl.Trainer, step: int, fusions: dict[str, Fusion]) -> None:
        path = self._csv_path(trainer)
        new_file = not path.is_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(FUSION_WEIGHTS_COLUMNS)
            for term, fusion in fusions.items():
                losses = fusion.last_part_losses.double().cpu().tolist()
                weights = fusion.last_weights.double().cpu().tolist()
                for part, (loss, weight) in enumerate(zip(losses, weights, strict=True)):
                    writer.writerow([step, term, part, f"{loss:.6g}", f"{weight:.6g}"])

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self._csv_path(trainer)
        if not trainer.is_global_zero or not path.is_file():
            return
        image = draw_weights(read_fusion_log(path), path.with_name(PNG_NAME))
        if image is None:
            return
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="train/fusion_weights", images=[str(image)])

"""Lightning callback: moves the exponent l of every scheduled `NormFusion` every step."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
from torch import nn

from gaitwave.fusion import NormFusion


def total_steps(trainer: pl.Trainer) -> int:
    """T: `trainer.max_steps`, else the steps implied by `max_epochs`."""
    if trainer.max_steps > 0:
        return trainer.max_steps
    estimated = trainer.estimated_stepping_batches
    if not math.isfinite(estimated):
        raise ValueError(
            "ExponentCallback: the training length is unbounded; set trainer.max_steps (or "
            "trainer.max_epochs) so the exponent schedule knows the total number of steps."
        )
    return int(estimated)


def term_label(module_name: str) -> str:
    """`terms.triplet.fusion` -> `triplet`: the loss term a fusion module belongs to."""
    name = module_name.removeprefix("terms.").removesuffix(".fusion")
    return name or "fusion"


def scheduled_fusions(model: nn.Module) -> dict[str, NormFusion]:
    """The norm-fusions of `model` that carry a schedule, by loss term."""
    return {
        term_label(name): module
        for name, module in model.named_modules()
        if isinstance(module, NormFusion) and module.schedule is not None
    }


class ExponentCallback(pl.Callback):
    """Before each training batch, sets every scheduled `NormFusion`'s exponent to
    `schedule(trainer.global_step, T)` (T = `trainer.max_steps` or the steps of `max_epochs`)
    and logs it: `train/exponent` when every scheduled term has the same schedule (the default:
    each term's fusion is the `fusion` group), else `train/exponent/<term>` per term.

    Each term's fusion carries its own schedule (`loss.<term>.fusion.schedule`), so a metric
    term and a softmax term can move differently. Since l is a checkpointed buffer and the step
    comes from `global_step`, a resumed run continues the schedule exactly. Fusions without a
    schedule keep their constant exponent.
    """

    def __init__(self) -> None:
        self._total_steps = 0  # T, set when training starts

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._total_steps = total_steps(trainer)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        fusions = scheduled_fusions(pl_module)
        shared = len({fusion.schedule for fusion in fusions.values()}) == 1
        for term, fusion in fusions.items():
            exponent = fusion.schedule(trainer.global_step, self._total_steps)
            fusion.set_exponent(exponent)
            key = "train/exponent" if shared else f"train/exponent/{term}"
            pl_module.log(key, exponent, on_step=True, on_epoch=False)

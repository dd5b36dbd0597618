"""Lightning callback: a training step whose loss or gradients are not finite is skipped.

After backward and before the optimiser step, `NonFiniteGuard` checks the step's loss terms
(`pl_module.step_losses`, kept by `GaitModule.training_step`) and every gradient. A step with a
NaN or inf in either has all its gradients dropped (`.grad = None`), so the optimiser leaves
the weights and its own state (Adam moments, SGD momentum) as they were; the step still counts
as a step (`global_step`, the learning-rate and exponent schedules move on). Skipped steps are
counted and logged as `train/nonfinite_steps` (the running total, logged every step so the
column exists from the start); `max_consecutive` skipped steps in a row stop training with a
`NonFiniteLossError` naming what was not finite and the last good step.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

NAMED_PARAMETERS = 3  # parameters named in a cause; the rest are counted


class NonFiniteLossError(RuntimeError):
    """Too many consecutive training steps had a non-finite loss or gradient."""


def nonfinite_names(tensors: dict[str, Tensor]) -> list[str]:
    """The names of the tensors holding a NaN or inf (one host sync for all of them)."""
    if not tensors:
        return []
    finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).tolist()
    return [name for name, ok in zip(tensors, finite, strict=True) if not ok]


def describe_parameters(names: list[str]) -> str:
    """`gradients of a, b, c (+4 more)`."""
    shown = ", ".join(names[:NAMED_PARAMETERS])
    more = len(names) - NAMED_PARAMETERS
    return f"gradients of {shown}" + (f" (+{more} more)" if more > 0 else "")


class NonFiniteGuard(pl.Callback):
    """Skips, counts and logs training steps whose loss terms or gradients are not finite, and
    stops training after `max_consecutive` of them in a row.

    Args:
        max_consecutive: skipped steps in a row that raise `NonFiniteLossError`
            (config: `callbacks.nonfinite_guard.max_consecutive`). A finite step resets the run.

    Loss terms are read from `pl_module.step_losses` (`{term: scalar tensor}`), when the module
    keeps them. Under fp16 mixed precision the gradient scaler already skips steps whose
    gradients overflow (and lowers its scale), so only the loss terms are checked there. Under
    DDP every process skips when any process found a non-finite value.
    """

    def __init__(self, max_consecutive: int = 5) -> None:
        if isinstance(max_consecutive, bool) or not isinstance(max_consecutive, int):
            raise TypeError(
                "callbacks.nonfinite_guard.max_consecutive must be an integer >= 1, "
                f"got {max_consecutive!r}"
            )
        if max_consecutive < 1:
            raise ValueError(
                "callbacks.nonfinite_guard.max_consecutive must be >= 1 (skipped steps in a row "
                f"before training stops), got {max_consecutive}"
            )
        self.max_consecutive = max_consecutive
        self.total = 0  # skipped steps over the whole run
        self.last_good_step: int | None = None  # global_step of the last finite step
        self.skipped: list[tuple[int, str]] = []  # (step, what was not finite) of this run

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        cause = self._nonfinite_cause(trainer, pl_module)
        skip = trainer.strategy.reduce_boolean_decision(cause is not None, all=False)
        if skip:
            for param in pl_module.parameters():
                param.grad = None
            self.total += 1
            self.skipped.append(
                (trainer.global_step, cause or "a non-finite value on another process")
            )
        else:
            self.last_good_step = trainer.global_step
            self.skipped = []
        pl_module.log("train/nonfinite_steps", float(self.total), on_step=True, on_epoch=False)
        if len(self.skipped) >= self.max_consecutive:
            raise NonFiniteLossError(self._message())

    def _nonfinite_cause(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str | None:
        """What was not finite in this step (`loss term 'x'`, `gradients of ...`), or None."""
        losses = getattr(pl_module, "step_losses", None) or {}
        terms = nonfinite_names(losses)
        if terms:
            return ", ".join(f"loss term '{name}'" for name in terms)
        if getattr(trainer.precision_plugin, "scaler", None) is not None:
            return None  # fp16: the gradient scaler handles overflowing gradients
        grads = {n: p.grad for n, p in pl_module.named_parameters() if p.grad is not None}
        params = nonfinite_names(grads)
        return describe_parameters(params) if params else None

    def _message(self) -> str:
        first, last = self.skipped[0][0], self.skipped[-1][0]
        causes = list(dict.fromkeys(cause for _, cause in self.skipped))  # in order, once each
        last_good = "none" if self.last_good_step is None else self.last_good_step
        return (
            f"{len(self.skipped)} consecutive training steps ({first}..{last}) were not finite: "
            f"{'; '.join(causes)}. These steps were skipped; last good step: {last_good} "
            f"({self.total} steps skipped in all). Try a lower learning rate (optimizer.lr), "
            "check the training data, or allow longer runs of skipped steps with "
            "callbacks.nonfinite_guard.max_consecutive."
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "last_good_step": self.last_good_step,
            "skipped": list(self.skipped),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.total = state_dict["total"]
        self.last_good_step = state_dict["last_good_step"]
        self.skipped = [(step, cause) for step, cause in state_dict["skipped"]]

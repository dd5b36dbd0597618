"""What the callback tests share: a logger that keeps what it is given, and a small CPU
trainer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import pytest
from lightning.pytorch.loggers import Logger


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


@pytest.fixture
def memory_logger() -> type[MemoryLogger]:
    """The `MemoryLogger` class: `memory_logger()` makes one."""
    return MemoryLogger


def _make_trainer(tmp_path: Path, callbacks: list, logger=False, **kwargs) -> pl.Trainer:
    """A CPU trainer logging every step, without checkpoints, progress bar or summary; `kwargs`
    go to `pl.Trainer` (`max_steps=...`)."""
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


@pytest.fixture
def make_trainer() -> Callable[..., pl.Trainer]:
    """`make_trainer(tmp_path, callbacks, logger=False, **trainer_kwargs)`."""
    return _make_trainer

"""What the callback tests share: a logger that keeps what it is given."""

from __future__ import annotations

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

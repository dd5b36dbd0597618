"""Fault-injection fixtures: one SynthGait `ci` set per session (copied for a test that damages
it), a callback that injects a fault at a training step, and the run path `gaitwave-train` takes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
from omegaconf import DictConfig

from gaitwave import train as train_app
from gaitwave.data.synthgait import generate


@pytest.fixture(scope="session")
def ci_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `paths.data_dir` holding the `ci` SynthGait set, generated once; never damage it."""
    data_dir = tmp_path_factory.mktemp("ci_data")
    generate(data_dir / "synthgait" / "ci-seed0", preset="ci", seed=0, progress=False)
    return data_dir


@pytest.fixture
def own_data(ci_data: Path, tmp_path: Path) -> Path:
    """A copy of `ci_data` (real files, no links) that this test may damage."""
    return Path(shutil.copytree(ci_data, tmp_path / "data"))


class Fault(L.Callback):
    """Calls `act(trainer)` once, when training step `step` ends (a checkpoint every few steps
    has been written before: ModelCheckpoint runs after the other callbacks)."""

    def __init__(self, step: int, act: Callable[[L.Trainer], None]) -> None:
        self.step = step
        self.act = act
        self.done = False

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if not self.done and trainer.global_step == self.step:
            self.done = True
            self.act(trainer)


@pytest.fixture
def run_with_fault(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """`run(cfg, step=None, fault=None)`: `gaitwave-train`'s main on a composed config
    (status.json, resume, W&B closed at the end), calling `fault(trainer)` once when training
    step `step` ends."""

    def run(
        cfg: DictConfig, step: int | None = None, fault: Callable[[L.Trainer], None] | None = None
    ) -> None:
        with monkeypatch.context() as patch:
            if fault is not None:
                build, injected = train_app.build_callbacks, Fault(step, fault)
                patch.setattr(train_app, "build_callbacks", lambda c: [*build(c), injected])
            train_app.main(cfg)  # hydra.main passes a given config straight to the function

    return run

"""Shared fixtures. Tests run offline: W&B disabled unless a test says otherwise."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from gaitwave.config import config_dir

os.environ.setdefault("WANDB_MODE", "disabled")


def compose_app(app: str, *overrides: str) -> DictConfig:
    """The app config (`train`, `eval`, ...) from the repository's conf/ with overrides."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(app, overrides=list(overrides))
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


@pytest.fixture
def compose_config() -> Callable[..., DictConfig]:
    return compose_app


@pytest.fixture
def tiny_train_config() -> Callable[..., DictConfig]:
    """`make(out, data_dir, *overrides)`: a train config on the `ci` SynthGait preset (generated
    into data_dir on first use), writing into out, quiet, loading in the main process."""

    def make(out: Path, data_dir: Path, *overrides: str) -> DictConfig:
        return compose_app(
            "train",
            f"paths.output_dir={out}",
            f"paths.data_dir={data_dir}",
            "data.synthgait.preset=ci",
            "data.datamodule.num_workers=0",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            *overrides,
        )

    return make

"""Every file in conf/ composes, and what it describes instantiates (a timm-style registry test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from gaitwave.build import build_callbacks, build_loggers, build_module
from gaitwave.config import config_dir

CONF = config_dir()
APPS = sorted(p.stem for p in CONF.glob("*.yaml"))
# every option of every group, nested groups too (`fusion/schedule`)
GROUP_OPTIONS = sorted(
    (option.parent.relative_to(CONF).as_posix(), option.stem)
    for group in CONF.iterdir()
    if group.is_dir() and group.name not in {"hydra", "paths"}
    for option in group.rglob("*.yaml")
)
# groups a run adds rather than replaces (not in train.yaml's defaults list)
ADDED_GROUPS = {"ablation"}


def compose_app(app: str, tmp_path: Path, overrides: list[str]) -> DictConfig:
    """Compose an app config with outputs and data pointed at tmp_path, resolved."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(app, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        if "paths" in cfg:
            cfg.paths.output_dir = str(tmp_path)
            cfg.paths.data_dir = str(tmp_path / "data")
        cfg.hydra.runtime.output_dir = str(tmp_path)
    OmegaConf.resolve(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


@pytest.mark.parametrize("app", APPS)
def test_every_app_composes(tmp_path: Path, app: str) -> None:
    cfg = compose_app(app, tmp_path, [])
    assert cfg


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_builds(tmp_path: Path, group: str, option: str) -> None:
    """The train config with this option builds its module, data, callbacks, loggers, trainer."""
    prefix = "+" if group in ADDED_GROUPS else ""
    cfg = compose_app("train", tmp_path, [f"{prefix}{group}={option}"])
    module = build_module(cfg, num_classes=10)
    assert sum(p.numel() for p in module.parameters()) > 0
    assert module.terms, f"{group}/{option}.yaml leaves no loss term"
    instantiate(cfg.data.datamodule)
    build_callbacks(cfg)
    build_loggers(cfg)
    if cfg.trainer.accelerator == "cpu":  # a GPU trainer instantiates only where a GPU exists
        instantiate(cfg.trainer)


def test_without_a_logger_the_learning_rate_monitor_is_left_out(tmp_path: Path) -> None:
    """`logger=none`: Lightning's LearningRateMonitor would refuse to start without a logger."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    def monitors(*overrides: str) -> int:
        callbacks = build_callbacks(compose_app("train", tmp_path, list(overrides)))
        return sum(isinstance(c, LearningRateMonitor) for c in callbacks)

    assert monitors() == 1
    assert monitors("logger=none") == 0

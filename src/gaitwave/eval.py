"""gaitwave-eval: rebuild a trained model from its checkpoint and evaluate it under a protocol.

    gaitwave-eval ckpt=outputs/train/runs/<run>/checkpoints/last.ckpt
    gaitwave-eval ckpt=... data=synthgait data.synthgait.seed=1      # another dataset
    gaitwave-eval ckpt=... data=casiab data.protocol=casiab-cross-view
    gaitwave-eval ckpt=... data=grew grew_submission=submission.csv  # GREW challenge CSV

Checkpoints hold the resolved training config and plain tensors (they load with
`weights_only=True`); the model is rebuilt from that config, never unpickled. A config names the
classes it builds (`_target_`), so a checkpoint's config is checked before anything is built:
only gaitwave, torch.optim and Lightning classes are accepted, never an arbitrary callable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console

from gaitwave.build import build_module
from gaitwave.checkpoint import read_checkpoint
from gaitwave.config import config_dir
from gaitwave.evaluation import EvalSplit, write_grew_submission
from gaitwave.evaluation.settings import upgrade_moved_keys
from gaitwave.module import GaitModule
from gaitwave.train import ensure_data

# the packages whose classes a checkpoint's config may build (`_target_`)
TRUSTED_TARGETS = ("gaitwave.", "torch.optim.", "lightning.")


def check_targets(config: Any, source: Path, key: str = "") -> None:
    """Refuse a config (from `source`) that would build anything outside `TRUSTED_TARGETS`:
    instantiating `_target_: os.system` would run a command."""
    if isinstance(config, dict):
        target = config.get("_target_")
        if target is not None and not str(target).startswith(TRUSTED_TARGETS):
            raise ValueError(
                f"{source}: {key + '.' if key else ''}_target_ = {target!r} is not a gaitwave, "
                "torch.optim or Lightning class; refusing to build it (a checkpoint from "
                "elsewhere could run any callable this way)"
            )
        for name, value in config.items():
            check_targets(value, source, f"{key}.{name}" if key else str(name))
    elif isinstance(config, list):
        for index, value in enumerate(config):
            check_targets(value, source, f"{key}[{index}]")


def load_checkpoint(path: str | Path) -> tuple[DictConfig, int, dict[str, Any]]:
    """(training config, number of training classes, state dict) of a gaitwave checkpoint."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    if "gaitwave_config" not in checkpoint:
        raise ValueError(
            f"{path} has no `gaitwave_config`: it was not written by gaitwave-train, so the model "
            "cannot be rebuilt (OpenGait checkpoints need an import step first)"
        )
    check_targets(checkpoint["gaitwave_config"], path)
    config = upgrade_moved_keys(OmegaConf.create(checkpoint["gaitwave_config"]))
    return config, checkpoint["gaitwave_num_classes"], checkpoint["state_dict"]


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Evaluate `cfg.ckpt` (see `run_evaluation`) and return the flat metrics (percent)."""
    return run_evaluation(cfg)[0]


def run_evaluation(cfg: DictConfig) -> tuple[dict[str, float], GaitModule]:
    """Evaluate `cfg.ckpt` on `cfg.data` (or the training data) with `cfg.eval`'s settings (or
    the training run's); write the report (and, with `cfg.grew_submission`, the GREW challenge
    CSV) to the run folder and return the flat metrics (percent) and the module."""
    train_cfg, num_classes, state_dict = load_checkpoint(cfg.ckpt)
    with open_dict(train_cfg):
        if cfg.get("data") is not None:
            train_cfg.data = cfg.data
        for key, value in cfg.eval.items():
            if value is not None:
                train_cfg.eval[key] = value
    module: GaitModule = build_module(train_cfg, num_classes=num_classes)
    module.load_state_dict(state_dict)
    module.keep_test_split = bool(cfg.get("grew_submission"))

    ensure_data(train_cfg.data)
    datamodule = instantiate(train_cfg.data.datamodule)
    trainer = instantiate(cfg.trainer)
    trainer.test(module, datamodule=datamodule, verbose=False)
    evaluation = module.test_evaluation
    if trainer.is_global_zero:
        out_dir = Path(cfg.paths.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
        console = Console()
        module.protocol.report(evaluation, out_dir, console)
        if cfg.get("grew_submission"):
            path = write_submission(module.test_split, out_dir / cfg.grew_submission, module.metric)
            console.print(f"GREW submission (top-20 gallery ids per type-03 probe): {path}")
        console.print(f"Run folder: {out_dir}")
    return evaluation.metrics, module


def write_submission(split: EvalSplit, path: Path, metric: str) -> Path:
    """The official GREW CSV for the test split: gallery types 01 + 02, probes of type 03 (the
    data layout stores them as id `probe`, type `03`, view = the probe sequence name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = split.labels
    write_grew_submission(path, split.emb, labels.ids, labels.types, labels.views, metric)
    return path


@hydra.main(config_path=str(config_dir()), config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Console entry: returns the protocol's headline metric (`mean/rank1`, or `rank1`, ...)."""
    metrics, module = run_evaluation(cfg)
    return metrics.get(module.protocol.headline_key)


if __name__ == "__main__":
    main()

"""Two CPU processes (DDP, gloo): training runs and evaluation equals a single process's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gaitwave.build import build_module


@pytest.mark.slow
def test_ddp_two_processes_evaluate_like_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "gaitwave.train",
        "debug=tiny",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={tmp_path / 'data'}",
        f"hydra.run.dir={run}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp_metrics = json.loads((run / "metrics.json").read_text())

    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    cfg = OmegaConf.create(checkpoint["gaitwave_config"])
    datamodule = instantiate(cfg.data.datamodule)
    module = build_module(cfg, num_classes=datamodule.num_classes)
    module.load_state_dict(checkpoint["state_dict"])
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    assert module.test_results["metrics"] == pytest.approx(ddp_metrics)

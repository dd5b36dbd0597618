"""Two CPU processes (DDP, gloo): training runs and evaluation equals a single process's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gaitwave.eval import evaluate_checkpoint


@pytest.mark.slow
def test_ddp_two_processes_evaluate_like_one(tmp_path: Path, compose_config) -> None:
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

    eval_cfg = compose_config(
        "eval",
        f"ckpt={run / 'checkpoints' / 'last.ckpt'}",
        f"paths.output_dir={tmp_path / 'eval'}",
        "trainer.enable_progress_bar=false",
    )
    assert evaluate_checkpoint(eval_cfg) == pytest.approx(ddp_metrics)

"""End-to-end training on tiny SynthGait: fast_dev_run, a loss that goes down, the run folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gaitwave.eval import evaluate_checkpoint
from gaitwave.train import train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared data folder: the first run generates the `ci` SynthGait preset into it."""
    return tmp_path_factory.mktemp("data")


def test_fast_dev_run_generates_missing_data(
    tmp_path: Path, data_dir: Path, tiny_train_config
) -> None:
    train(tiny_train_config(tmp_path, data_dir, "debug=fdr"))
    assert (data_dir / "synthgait" / "ci-seed0" / "partition.json").is_file()
    assert (tmp_path / "config.yaml").is_file()


def test_short_train_lowers_the_loss_writes_the_report_and_evaluates_again(
    tmp_path: Path, data_dir: Path, tiny_train_config, compose_config
) -> None:
    metrics = train(
        tiny_train_config(
            tmp_path,
            data_dir,
            "debug=tiny",
            "trainer.max_steps=60",
            "trainer.val_check_interval=30",
            "trainer.log_every_n_steps=1",
            "scheduler=none",
        )
    )
    with open(tmp_path / "csv" / "metrics.csv") as f:
        losses = [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]
    assert len(losses) >= 50
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.9 * first, f"loss did not go down: {first:.3f} -> {last:.3f}"

    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == pytest.approx(metrics, nan_ok=True)
    for key in ("NM/rank1", "BG/rank1", "CL/rank1", "mean/rank1", "NM/mAP"):
        assert 0.0 <= saved[key] <= 100.0
    assert list(tmp_path.glob("*.csv")) and list(tmp_path.glob("*.png"))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()

    assert not (tmp_path / "per_part.csv").exists()  # eval.per_part is off by default

    # gaitwave-eval rebuilds the model from the checkpoint alone and gets the same numbers;
    # with eval.per_part it also evaluates each part alone
    again = tmp_path / "eval"
    eval_cfg = compose_config(
        "eval",
        f"ckpt={tmp_path / 'checkpoints' / 'last.ckpt'}",
        f"paths.output_dir={again}",
        "trainer.enable_progress_bar=false",
        "eval.per_part=true",
    )
    assert evaluate_checkpoint(eval_cfg) == pytest.approx(metrics)
    assert (again / "metrics.json").is_file()
    with open(again / "per_part.csv") as f:
        parts = list(csv.DictReader(f))
    assert [int(line["part"]) for line in parts] == list(range(len(parts)))
    assert len(parts) > 1 and all(0.0 <= float(line["mean/rank1"]) <= 100.0 for line in parts)


def test_norm_fusion_moves_its_exponent_with_the_wandb_logger(
    tmp_path: Path, data_dir: Path, tiny_train_config
) -> None:
    cfg = tiny_train_config(
        tmp_path,
        data_dir,
        "debug=tiny",
        "fusion=norm",
        "logger=wandb",
        "trainer.max_steps=8",
        "trainer.log_every_n_steps=1",
        "trainer.val_check_interval=8",
        "test=false",
    )
    train(cfg)
    with open(tmp_path / "csv" / "metrics.csv") as f:
        exponents = [
            float(r["train/exponent"]) for r in csv.DictReader(f) if r.get("train/exponent")
        ]
    assert exponents and min(exponents) >= -1.0 and max(exponents) <= 1.0
    assert max(exponents) > min(exponents)


def test_multirun_over_fusions(tmp_path: Path, data_dir: Path) -> None:
    """`gaitwave-train -m fusion=pre,post,norm`: one job folder per fusion, each with its config."""
    import subprocess
    import sys

    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "gaitwave.train",
        "-m",
        "fusion=pre,post,norm",
        "debug=fdr",
        "data.synthgait.preset=ci",
        "data.datamodule.num_workers=0",
        f"paths.data_dir={data_dir}",
        f"hydra.sweep.dir={sweep}",
        "trainer.enable_progress_bar=false",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    fusions = [
        OmegaConf.load(sweep / str(job) / "config.yaml").loss.triplet.fusion._target_
        for job in range(3)
    ]
    assert fusions == [f"gaitwave.fusion.{name}Fusion" for name in ("Pre", "Post", "Norm")]


def test_jobs_starting_together_generate_the_data_once(
    tmp_path: Path, compose_config, monkeypatch
) -> None:
    """Two jobs of a local sweep start at once on a set not generated yet: one generates it
    (here a fake that takes a while), the other waits and finds it."""
    import threading
    import time

    import gaitwave.data.synthgait as synthgait
    from gaitwave.train import ensure_data

    cfg = compose_config("train", f"paths.data_dir={tmp_path}", "data.synthgait.preset=ci")
    calls = []

    def slow_generate(root, **kwargs) -> None:
        calls.append(root)
        time.sleep(0.5)
        Path(root).mkdir(parents=True)
        (Path(root) / "partition.json").write_text("{}")

    monkeypatch.setattr(synthgait, "generate", slow_generate)
    jobs = [threading.Thread(target=ensure_data, args=(cfg.data,)) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(calls) == 1

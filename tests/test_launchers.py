"""Sweeps beyond one process: hydra/launcher=local and =slurm, hydra/sweeper=optuna_exponent,
trainer=ddp. Each composes with the train app and goes through Hydra's plugin machinery; the local
launcher runs a real two-job sweep, the SLURM launcher writes its sbatch script (fake `sbatch`),
the Optuna sweeper runs its trials on a stand-in for training."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.types import HydraContext
from hydra.utils import instantiate
from omegaconf import DictConfig

from gaitwave.config import config_dir
from gaitwave.data.synthgait import generate
from gaitwave.fusion import ExponentSchedule
from gaitwave.train import train

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def compose_with_hydra(*overrides: str) -> DictConfig:
    """The train config with its `hydra` node, as a sweep's launcher and sweeper receive it."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def hydra_context() -> HydraContext:
    """What `gaitwave-train -m` hands its sweeper and launcher (built as Hydra's own launcher
    tests build it: Hydra has no public constructor for it)."""
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    search_path = create_config_search_path(f"file://{config_dir()}")
    return HydraContext(config_loader=ConfigLoaderImpl(search_path), callbacks=Callbacks())


def class_path(plugin: object) -> str:
    """`module.Class` of a plugin (Hydra imports plugin modules itself, so classes imported
    here are other objects than the ones it instantiates)."""
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"


def not_run(cfg: DictConfig) -> None:
    """Task function of launchers that are only set up or only submit."""
    raise AssertionError("this test runs no job")


def test_local_launcher_runs_one_single_threaded_job_per_core() -> None:
    cfg = compose_with_hydra("hydra/launcher=local")
    launcher = Plugins.instance().instantiate_launcher(
        config=cfg, hydra_context=hydra_context(), task_function=not_run
    )
    assert (
        class_path(launcher) == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    )
    assert launcher.joblib["n_jobs"] == -1
    assert cfg.hydra.job.env_set.OMP_NUM_THREADS == "1"


def test_local_launcher_sweep_two_jobs_at_once_one_thread_each(tmp_path: Path) -> None:
    """A real 2-job sweep; the shell asks for 2 threads, each job takes 1. The jobs keep their
    loader workers (debug=fdr, num_workers=2): inside joblib's worker processes the default start
    method is joblib's own, so GaitDataModule's loaders must name theirs."""
    data = tmp_path / "data"
    generate(data / "synthgait" / "ci-seed0", preset="ci", seed=0, workers=1, progress=False)
    sweep = tmp_path / "sweep"
    script = Path(sys.executable).parent / "gaitwave-train"
    cmd = [
        str(script),
        "-m",
        "hydra/launcher=local",
        "hydra.launcher.n_jobs=2",
        "debug=fdr",
        "seed=0,1",
        "data.synthgait.preset=ci",
        f"paths.data_dir={data}",
        f"hydra.sweep.dir={sweep}",
        *QUIET,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "WANDB_MODE": "disabled"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in done.stdout + done.stderr
    for job, seed in (("0", 0), ("1", 1)):
        config = yaml.safe_load((sweep / job / "config.yaml").read_text())
        assert (config["seed"], config["threads"]) == (seed, 1)


def test_slurm_launcher_asks_one_task_and_gpu_per_ddp_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """submitit writes the sbatch script of a DDP job on 2 nodes x 4 GPUs; a fake `sbatch`
    refuses it, so nothing runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("srun", "sbatch"):
        (bin_dir / command).write_text("#!/bin/sh\necho 'no cluster here' >&2\nexit 1\n")
        (bin_dir / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sweep = tmp_path / "sweep"
    cfg = compose_with_hydra(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "trainer=ddp",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        f"hydra.sweep.dir={sweep}",
    )
    launcher = Plugins.instance().instantiate_launcher(
        config=cfg, hydra_context=hydra_context(), task_function=not_run
    )
    with pytest.raises(Exception, match="no cluster here"):
        launcher.launch([["seed=0"]], initial_job_idx=0)

    (script,) = sweep.glob(".submitit/.submission_file_*.sh")
    flags = {line for line in script.read_text().splitlines() if line.startswith("#SBATCH")}
    expected = {
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--cpus-per-task=8",
        "--partition=gpu",
        "--time=720",
        "--signal=USR2@120",
    }
    assert {f"#SBATCH {flag}" for flag in expected} <= flags


def test_requeued_job_resumes_from_its_last_checkpoint(tmp_path: Path, tiny_train_config) -> None:
    """What a job requeued by hydra/launcher=slurm does with `ckpt_path=last`: the first run
    finds no checkpoint and starts fresh, the rerun in the same job folder continues from
    checkpoints/last.ckpt, and metrics.csv keeps the first run's rows."""
    run = tmp_path / "run"
    overrides = [
        "debug=tiny",
        "ckpt_path=last",
        "test=false",
        "trainer.val_check_interval=5",
        "trainer.log_every_n_steps=1",
    ]
    train(tiny_train_config(run, tmp_path / "data", *overrides, "trainer.max_steps=5"))
    train(tiny_train_config(run, tmp_path / "data", *overrides, "trainer.max_steps=10"))

    with open(run / "csv" / "metrics.csv") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f) if row.get("train/loss")]
    assert steps == list(range(10))
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 10


def test_ddp_trainer_builds_on_two_cpu_processes(tmp_path: Path) -> None:
    """trainer=ddp's keys are Lightning's; built on CPU (no GPU needed), not launched."""
    cfg = compose_with_hydra(
        "trainer=ddp", "trainer.accelerator=cpu", "trainer.precision=32-true", *QUIET
    )
    assert cfg.trainer.use_distributed_sampler is False
    trainer = instantiate(cfg.trainer, default_root_dir=str(tmp_path), logger=False)
    assert isinstance(trainer, L.Trainer)
    assert (trainer.num_devices, trainer.num_nodes, trainer.world_size) == (2, 1, 2)
    assert type(trainer.strategy).__name__ == "DDPStrategy"


def test_optuna_sweeper_searches_l_min_and_l_max_of_norm_fusion(tmp_path: Path) -> None:
    """Six trials through the real sweeper and basic launcher; each trial's train config gets
    norm-fusion with l_min in [-4, 0] and l_max in [0, 4], and the best trial is reported."""
    sweep = tmp_path / "sweep"
    cfg = compose_with_hydra(
        "hydra/sweeper=optuna_exponent",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.sampler.n_startup_trials=3",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
        f"hydra.sweep.dir={sweep}",
    )
    trials: list[tuple[float, float, float]] = []

    def objective(job_cfg: DictConfig) -> float:
        """Stands in for training: the best range is [-1, 1]."""
        assert job_cfg.fusion._target_ == "gaitwave.fusion.NormFusion"
        schedule = instantiate(job_cfg.fusion.schedule)
        assert isinstance(schedule, ExponentSchedule) and schedule.mode == "abs"
        value = -((schedule.l_min + 1) ** 2) - (schedule.l_max - 1) ** 2
        trials.append((schedule.l_min, schedule.l_max, value))
        return value

    sweeper = Plugins.instance().instantiate_sweeper(
        config=cfg, hydra_context=hydra_context(), task_function=objective
    )
    assert class_path(sweeper) == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    sweeper.sweep(arguments=[])

    assert len(trials) == 6 and len({(l_min, l_max) for l_min, l_max, _ in trials}) == 6
    assert all(-4 <= l_min <= 0 <= l_max <= 4 for l_min, l_max, _ in trials)
    best_l_min, best_l_max, best_value = max(trials, key=lambda trial: trial[2])
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(best_value)
    assert results["best_params"] == pytest.approx(
        {"fusion.schedule.l_min": best_l_min, "fusion.schedule.l_max": best_l_max}
    )

"""Signals and resumes from the outside: SIGTERM to a multirun, a corrupt checkpoint at resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gaitwave import train as train_app
from gaitwave.callbacks.preemption import STOP
from gaitwave.checkpoint import CheckpointError, last_checkpoint
from gaitwave.run_status import read_status


def sweep_command(sweep: Path, data_dir: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("gaitwave-train")),
        "-m",
        "+ablation=fusion",
        "hydra.sweeper.seeds=[0]",
        "debug=tiny",
        "trainer.max_steps=30",
        "trainer.val_check_interval=10",
        "data.datamodule.num_workers=0",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={data_dir}",
        f"hydra.sweep.dir={sweep}",
    ]


def wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the sweep ended before the fault was injected"
        assert time.monotonic() < end, "timed out waiting for the sweep"
        time.sleep(0.2)


@pytest.mark.slow
def test_sigterm_to_a_multirun_then_the_same_command_finishes_it(
    tmp_path: Path, ci_data: Path
) -> None:
    """Three jobs run one after another in one process; SIGTERM arrives while the second
    trains. The second stops with a checkpoint, the third does not start, the sweep lists both
    and exits non-zero. The same command over the same sweep folder skips the first job and
    completes the other two."""
    sweep = tmp_path / "sweep"
    command = sweep_command(sweep, ci_data)
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    second_csv = sweep / "1" / "csv" / "metrics.csv"
    wait_for(lambda: second_csv.is_file() and len(second_csv.read_text().splitlines()) > 3, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0
    statuses = [read_status(sweep / str(job)) for job in range(3)]
    assert [s["status"] for s in statuses] == ["completed", "interrupted", "interrupted"]
    assert statuses[1]["checkpoint"] == str(last_checkpoint(sweep / "1"))
    assert statuses[2]["checkpoint"] is None  # asked to stop before it started
    assert "2 of 3 jobs were interrupted" in stderr
    assert f"hydra.sweep.dir={sweep}" in stderr
    first_metrics = (sweep / "0" / "metrics.json").stat().st_mtime_ns

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [read_status(sweep / str(job))["status"] for job in range(3)] == ["completed"] * 3
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == first_metrics  # skipped
    assert "resuming the interrupted run" in done.stdout + done.stderr
    for job in range(3):
        metrics = json.loads((sweep / str(job) / "metrics.json").read_text())
        assert 0 <= metrics["mean/rank1"] <= 100


def test_a_corrupt_checkpoint_at_resume_is_named_and_nothing_is_lost(
    tmp_path: Path, ci_data: Path, compose_config
) -> None:
    """An interrupted run whose last.ckpt got damaged: the resume fails naming the file, the
    earlier checkpoints and the run's files stay as they were."""
    overrides = [
        f"paths.output_dir={tmp_path}",
        f"paths.data_dir={ci_data}",
        "debug=tiny",
        "data.datamodule.num_workers=0",
        "trainer.enable_progress_bar=false",
    ]
    STOP.signal_name = None
    train_app.run_job(compose_config("train", *overrides))
    last = last_checkpoint(tmp_path)
    last.write_bytes(last.read_bytes()[:1000])
    status = json.loads((tmp_path / "status.json").read_text())
    status["status"] = "interrupted"  # as if stopped after its last checkpoint
    (tmp_path / "status.json").write_text(json.dumps(status))
    before = {p.name: p.read_bytes() for p in (tmp_path / "checkpoints").iterdir()}
    with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
        train_app.run_job(compose_config("train", *overrides))
    assert str(last) in str(error.value) and "step20.ckpt" in str(error.value)
    assert read_status(tmp_path)["status"] == "failed"
    assert {p.name: p.read_bytes() for p in (tmp_path / "checkpoints").iterdir()} == before
    # the earlier checkpoint named in the error resumes the run
    step10 = tmp_path / "checkpoints" / "step10.ckpt"
    train_app.run_job(compose_config("train", *overrides, f"ckpt_path={step10}"))
    assert read_status(tmp_path)["status"] == "completed"


def process_writing(path: Path, parent: int) -> int | None:
    """The pid of a descendant of `parent` that holds `path` open (Linux /proc)."""
    for task in Path("/proc").glob("[0-9]*"):
        try:
            status = (task / "status").read_text()
            ppid = int(
                next(line for line in status.splitlines() if line.startswith("PPid")).split()[1]
            )
            held = {os.readlink(fd) for fd in (task / "fd").iterdir()}
        except (OSError, StopIteration, ValueError):
            continue
        if ppid == parent and str(path) in held:
            return int(task.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the job's process in /proc")
def test_sigterm_to_one_job_of_a_local_launcher_sweep(tmp_path: Path, ci_data: Path) -> None:
    """hydra/launcher=local, two jobs at a time: SIGTERM to the worker process of job 0 stops
    that job with a checkpoint (and any later job that worker picks up, unstarted) while job 1
    completes; the same command over the sweep folder then resumes job 0 and skips job 1."""
    sweep = tmp_path / "sweep"
    command = [
        str(Path(sys.executable).with_name("gaitwave-train")),
        "-m",
        "hydra/launcher=local",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "debug=tiny",
        "trainer.max_steps=200",
        "trainer.val_check_interval=50",
        "data.datamodule.num_workers=0",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={ci_data}",
        f"hydra.sweep.dir={sweep}",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "2"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    first_csv = sweep / "0" / "csv" / "metrics.csv"
    wait_for(lambda: first_csv.is_file() and len(first_csv.read_text().splitlines()) > 3, process)
    worker = process_writing(sweep / "0" / "train.log", process.pid)
    assert worker is not None, "no worker process holds job 0's log"
    os.kill(worker, signal.SIGTERM)
    process.communicate(timeout=300)
    assert process.returncode != 0
    assert read_status(sweep / "0")["status"] == "interrupted"
    assert read_status(sweep / "0")["checkpoint"] == str(last_checkpoint(sweep / "0"))
    assert read_status(sweep / "1")["status"] == "completed"
    second = (sweep / "1" / "metrics.json").stat().st_mtime_ns

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [read_status(sweep / str(job))["status"] for job in range(2)] == ["completed"] * 2
    assert (sweep / "1" / "metrics.json").stat().st_mtime_ns == second

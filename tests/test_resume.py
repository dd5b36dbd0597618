"""Stopped by a signal and resumed, a run ends bit-identical to an uninterrupted one.

Each test trains a tiny run twice: once straight through, once stopped by SIGTERM (sent by the
process to itself from a callback, at a chosen point) and resumed in its folder by a second
start. Weights, optimiser and scheduler state, the exponent l, the loop counters, the test
metrics, metrics.csv and fusion_weights.csv must then be equal.
"""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import gaitwave.train as train_app
from gaitwave.callbacks.preemption import STOP
from gaitwave.checkpoint import last_checkpoint, read_checkpoint
from gaitwave.run_status import read_status

STEPS = ("trainer.max_steps=24", "trainer.val_check_interval=8", "trainer.log_every_n_steps=2")
OPTIONS = (*STEPS, "callbacks.fusion_diagnostics.every_n_steps=3", "debug=tiny")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def no_stop_request():
    """Each test starts with no stop request (it is per process in production)."""
    STOP.signal_name = None
    yield
    STOP.signal_name = None


class SelfSignal(pl.Callback):
    """Sends `signum` to this process once: after training step `step`, or during the first
    validation batch after it (`during_validation`)."""

    def __init__(self, step: int, during_validation: bool = False, signum: int = signal.SIGTERM):
        self.step, self.during_validation, self.signum = step, during_validation, signum
        self.sent = False

    def _send(self) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer, *args) -> None:
        if not self.during_validation and trainer.global_step == self.step:
            self._send()

    def on_validation_batch_end(self, trainer, *args) -> None:
        if (
            self.during_validation
            and not trainer.sanity_checking
            and trainer.global_step >= self.step
        ):
            self._send()


def with_callback(monkeypatch: pytest.MonkeyPatch, callback: pl.Callback) -> None:
    build = train_app.build_callbacks
    monkeypatch.setattr(train_app, "build_callbacks", lambda cfg: [*build(cfg), callback])


def without_folder(value, run_dir: Path):
    """`value` with the run folder's path replaced by `<run>` in every string."""
    if isinstance(value, str):
        return value.replace(str(run_dir), "<run>")
    if isinstance(value, dict):
        return {key: without_folder(item, run_dir) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_folder(item, run_dir) for item in value)
    return value


def final_state(run_dir: Path) -> dict:
    checkpoint = without_folder(read_checkpoint(last_checkpoint(run_dir)), run_dir)
    checkpoint["gaitwave_config"].pop("ckpt_path")  # where the run resumed from: may differ
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        metrics_csv = list(csv.DictReader(f))
    return {
        "checkpoint": checkpoint,
        "metrics": json.loads((run_dir / "metrics.json").read_text()),
        "metrics_csv": metrics_csv,
        "fusion_weights": (run_dir / "fusion_weights.csv").read_text(),
    }


def assert_same(a, b, where: str = "checkpoint") -> None:
    """Exact equality of nested checkpoint content (tensors bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir, compose_config) -> dict:
    """The reference: the same run, straight through."""
    out = tmp_path_factory.mktemp("straight")
    cfg = compose_config("train", *tiny_overrides(out, data_dir))
    STOP.signal_name = None
    train_app.run_job(cfg)
    return final_state(out)


def tiny_overrides(out: Path, data_dir: Path) -> list[str]:
    return [
        f"paths.output_dir={out}",
        f"paths.data_dir={data_dir}",
        "data.datamodule.num_workers=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *OPTIONS,
    ]


def stop_and_resume(tmp_path, data_dir, monkeypatch, compose_app, callback) -> tuple[dict, dict]:
    """Start, get stopped by `callback`'s signal, then start again in the same folder: the
    status after the stop, and the final state."""
    overrides = tiny_overrides(tmp_path, data_dir)
    with monkeypatch.context() as patch:
        with_callback(patch, callback)
        with pytest.raises(SystemExit) as stopped:
            train_app.run_job(compose_app("train", *overrides))
    assert stopped.value.code == 128 + signal.SIGTERM
    status = read_status(tmp_path)
    STOP.signal_name = None  # a new process
    train_app.run_job(compose_app("train", *overrides))
    return status, final_state(tmp_path)


def test_stop_mid_training_then_resume_is_exact(
    tmp_path, data_dir, monkeypatch, compose_config, uninterrupted
):
    callback = SelfSignal(step=5)
    status, resumed = stop_and_resume(tmp_path, data_dir, monkeypatch, compose_config, callback)
    assert status["status"] == "interrupted"
    # sent after the preemption callback's hook of step 5: answered at the end of step 6
    assert status["error"].startswith("RunInterrupted: stopped by SIGTERM at step 6")
    assert status["checkpoint"] == str(last_checkpoint(tmp_path))
    assert "hydra.run.dir" in status["resume"] or "paths.output_dir" in status["resume"]
    assert_same(uninterrupted["checkpoint"], resumed["checkpoint"])
    assert resumed["metrics"] == uninterrupted["metrics"]
    assert resumed["metrics_csv"] == uninterrupted["metrics_csv"]
    assert resumed["fusion_weights"] == uninterrupted["fusion_weights"]
    assert read_status(tmp_path)["status"] == "completed"


def test_stop_during_validation_then_resume_is_exact(
    tmp_path, data_dir, monkeypatch, compose_config, uninterrupted
):
    callback = SelfSignal(step=8, during_validation=True)
    status, resumed = stop_and_resume(tmp_path, data_dir, monkeypatch, compose_config, callback)
    # the validation at step 8 finished, then the checkpoint was written
    assert status["error"].startswith("RunInterrupted: stopped by SIGTERM at step 8")
    assert_same(uninterrupted["checkpoint"], resumed["checkpoint"])
    assert resumed["metrics"] == uninterrupted["metrics"]
    assert resumed["metrics_csv"] == uninterrupted["metrics_csv"]
    val_steps = [row["step"] for row in resumed["metrics_csv"] if row.get("val/mean/rank1")]
    assert len(val_steps) == len(set(val_steps)) == 3  # steps 8, 16, 24: once each


def test_completed_run_is_skipped(tmp_path, data_dir, monkeypatch, compose_config):
    compose_app = compose_config
    overrides = tiny_overrides(tmp_path, data_dir)
    first = train_app.run_job(compose_app("train", *overrides))
    stamp = last_checkpoint(tmp_path).stat().st_mtime_ns
    called = []
    monkeypatch.setattr(train_app, "train", lambda cfg: called.append(cfg))
    assert train_app.run_job(compose_app("train", *overrides)) == first
    assert not called and last_checkpoint(tmp_path).stat().st_mtime_ns == stamp


def test_unfinished_folder_with_another_config_is_refused(
    tmp_path, data_dir, monkeypatch, compose_config
):
    from gaitwave.resume import RunFolderMismatch

    compose_app = compose_config
    overrides = tiny_overrides(tmp_path, data_dir)
    with monkeypatch.context() as patch:
        with_callback(patch, SelfSignal(step=3))
        with pytest.raises(SystemExit):
            train_app.run_job(compose_app("train", *overrides))
    STOP.signal_name = None
    before = (tmp_path / "status.json").read_text()
    with pytest.raises(RunFolderMismatch, match=r"optimizer\.lr.*ckpt_path=last"):
        train_app.run_job(compose_app("train", *overrides, "optimizer.lr=0.5"))
    assert (tmp_path / "status.json").read_text() == before  # nothing overwritten


def test_second_signal_takes_the_default_action() -> None:
    from gaitwave.callbacks.preemption import stop_on_signals

    with stop_on_signals():
        os.kill(os.getpid(), signal.SIGINT)
        assert STOP.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("name", ["SIGINT", "SIGUSR1"])
def test_ctrl_c_and_slurm_preemption_stop_with_a_checkpoint(
    tmp_path, data_dir, monkeypatch, compose_config, name
):
    """SIGINT (Ctrl-C) and SIGUSR1 (SLURM's warning before preemption) stop like SIGTERM;
    in a SLURM job, SIGUSR1 also requeues it (`scontrol requeue <job>`, here a fake)."""
    signum = getattr(signal, name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "scontrol.args"}\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(run_dir, data_dir)
    with monkeypatch.context() as patch:
        with_callback(patch, SelfSignal(step=3, signum=signum))
        with pytest.raises(SystemExit) as stopped:
            train_app.run_job(compose_config("train", *overrides))
    assert stopped.value.code == 128 + signum
    status = read_status(run_dir)
    assert status["status"] == "interrupted" and name in status["error"]
    assert read_checkpoint(last_checkpoint(run_dir))["global_step"] == 4
    args = tmp_path / "scontrol.args"
    if name == "SIGUSR1":
        assert args.read_text().split() == ["requeue", "4242"]
    else:
        assert not args.exists()


def test_run_interrupted_survives_pickling() -> None:
    """A job of hydra/launcher=local returns its exception to the sweep through a pickle."""
    import pickle

    from gaitwave.callbacks.preemption import RunInterrupted

    stop = RunInterrupted("SIGTERM", 37, Path("/runs/0/checkpoints/last.ckpt"))
    again = pickle.loads(pickle.dumps(stop))
    assert (again.signal_name, again.step, again.checkpoint, str(again)) == (
        "SIGTERM",
        37,
        stop.checkpoint,
        str(stop),
    )
    assert again.exit_code == 128 + signal.SIGTERM


def test_loader_workers_ignore_the_stop_signals(tmp_path, data_dir, compose_config) -> None:
    """SLURM and Ctrl-C signal every process of a job: a loader worker must leave the signal to
    the training process, or its death would end the run before the checkpoint."""
    from hydra.utils import instantiate

    from gaitwave.train import ensure_data

    cfg = compose_config(
        "train", *tiny_overrides(tmp_path, data_dir), "data.datamodule.num_workers=1"
    )
    ensure_data(cfg.data)
    datamodule = instantiate(cfg.data.datamodule)
    loader = datamodule.train_dataloader()
    batches = iter(loader)
    next(batches)
    (worker,) = loader._iterator._workers  # torch's iterator of the persistent workers
    try:
        for name in ("SIGTERM", "SIGINT", "SIGUSR1"):
            os.kill(worker.pid, getattr(signal, name))
        for _ in range(4):
            next(batches)  # it still answers
        assert worker.is_alive()
    finally:
        loader._iterator._shutdown_workers()

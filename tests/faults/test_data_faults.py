"""Data faults mid-training end in a named error and a failed status, and lose nothing written:
sequence files deleted or truncated after the datamodule indexed them, a DataLoader worker
killed. Each run checkpoints at step 4 and meets the fault after step 5."""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gaitwave.data.loader import LoaderWorkerError
from gaitwave.data.readers import SequenceFormatError

FAULT_STEP = 5
RUN = (
    "debug=tiny",
    "data.datamodule.cache=false",  # read the files during training, not once up front
    "trainer.max_steps=12",
    "trainer.val_check_interval=4",
    "trainer.log_every_n_steps=1",
    "test=false",
)


def training_files(data_dir: Path) -> list[Path]:
    """The .pkl files of the training ids of the `ci` set under `data_dir`."""
    root = data_dir / "synthgait" / "ci-seed0"
    ids = json.loads((root / "partition.json").read_text())["TRAIN_SET"]
    return sorted(path for id_ in ids for path in (root / id_).rglob("*.pkl"))


def delete(files: list[Path]) -> None:
    for path in files:
        path.unlink()


def truncate(files: list[Path]) -> None:
    """Cut every file to half its size in place, as a copy or a disk that stopped half way."""
    for path in files:
        os.truncate(path, path.stat().st_size // 2)


def assert_written_files_intact(run: Path, error: str) -> None:
    """status.json says failed with `error`; config.yaml, the step-4 checkpoint and the CSV
    metrics written before the fault are all there and load."""
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and error in status["error"], status
    assert OmegaConf.load(run / "config.yaml").trainer.max_steps == 12
    for name in ("step4.ckpt", "last.ckpt"):
        checkpoint = torch.load(run / "checkpoints" / name, weights_only=True, map_location="cpu")
        assert checkpoint["global_step"] == 4
    assert "train/loss" in (run / "csv" / "metrics.csv").read_text()


@pytest.mark.parametrize("num_workers", [0, 1])
@pytest.mark.parametrize(
    ("damage", "what"), [(delete, "no such file"), (truncate, "truncated or corrupt")]
)
def test_a_sequence_file_lost_mid_epoch_names_the_file(
    tmp_path: Path,
    own_data: Path,
    tiny_train_config,
    run_with_fault,
    num_workers: int,
    damage,
    what: str,
) -> None:
    files = training_files(own_data)
    run = tmp_path / "run"
    cfg = tiny_train_config(run, own_data, *RUN, f"data.datamodule.num_workers={num_workers}")
    with pytest.raises(SequenceFormatError, match=what) as raised:
        run_with_fault(cfg, FAULT_STEP, lambda trainer: damage(files))
    named = [path for path in files if str(path) in str(raised.value)]
    assert len(named) == 1, str(raised.value)
    assert_written_files_intact(run, f"{named[0]}: ")


@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "not-reaped"])
def test_a_killed_dataloader_worker_ends_the_run_with_a_named_error(
    tmp_path: Path, ci_data: Path, tiny_train_config, run_with_fault, reaped: bool
) -> None:
    """Killed and reaped before the loader next asks them for a batch, torch names the dead
    worker; killed while the main process still reads a batch the worker had queued, torch
    raises a bare ConnectionResetError or EOFError, which `WorkerLoader` names
    (`LoaderWorkerError`)."""

    def kill_workers(trainer: object) -> None:
        workers = multiprocessing.active_children()  # of the training and validation loaders
        assert workers, "no DataLoader worker to kill"
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):  # a worker that just ended
                os.kill(worker.pid, signal.SIGKILL)
        for worker in workers if reaped else ():
            worker.join(timeout=10)

    gc.collect()  # loaders of earlier tests, kept alive by their errors, stop their workers
    run = tmp_path / "run"
    cfg = tiny_train_config(run, ci_data, *RUN, "data.datamodule.num_workers=1")
    named = r"DataLoader worker \(pid|DataLoader worker \(one of data\.datamodule\.num_workers"
    with pytest.raises(RuntimeError, match=named) as raised:
        run_with_fault(cfg, FAULT_STEP, kill_workers)
    torch_named = re.search(r"pid.*(killed by signal|exited unexpectedly)", str(raised.value))
    assert isinstance(raised.value, LoaderWorkerError) or torch_named
    assert_written_files_intact(run, "DataLoader worker")

"""Checkpoint faults: a write cut short (SIGKILL, full disk) leaves the previous checkpoint
loadable; a truncated or corrupt checkpoint is refused with an error naming the file."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gaitwave.checkpoint import AtomicCheckpointIO, CheckpointError, read_checkpoint


def checkpoint(value: float) -> dict:
    return {"state_dict": {"w": torch.full((256, 256), value)}, "global_step": int(value)}


def test_sigkill_during_a_checkpoint_write_leaves_the_previous_one(tmp_path: Path) -> None:
    """A child process overwrites last.ckpt and is killed with SIGKILL half way through the
    write (the write pauses after the first bytes, so the kill lands inside it)."""
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), path)
    child = textwrap.dedent(
        f"""
        import sys, time, torch
        from gaitwave.checkpoint import AtomicCheckpointIO

        def slow_save(obj, file):
            file.write(b"PK\\x03\\x04 half a zip archive")
            file.flush()
            print("writing", flush=True)
            time.sleep(60)

        torch.save = slow_save
        AtomicCheckpointIO().save_checkpoint({{"global_step": 2}}, {str(path)!r})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert read_checkpoint(path)["global_step"] == 1  # the previous checkpoint, whole
    assert torch.equal(read_checkpoint(path)["state_dict"]["w"], torch.full((256, 256), 1.0))


def test_full_disk_during_a_checkpoint_write(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), path)

    def full_disk(obj, file) -> None:
        file.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        AtomicCheckpointIO().save_checkpoint(checkpoint(2.0), path)
    monkeypatch.undo()
    assert read_checkpoint(path)["global_step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary left


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated or corrupt"),
        (lambda data: b"", "is empty"),
        (lambda data: bytes(len(data)), "truncated or corrupt"),
        (lambda data: data[:100] + b"\x00" * 512 + data[612:], "truncated or corrupt"),
    ],
    ids=["truncated", "empty", "zeroed", "overwritten"],
)
def test_a_damaged_checkpoint_is_named(tmp_path: Path, damage, message: str) -> None:
    good, bad = tmp_path / "step8.ckpt", tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), good)
    AtomicCheckpointIO().save_checkpoint(checkpoint(2.0), bad)
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(CheckpointError, match=message) as error:
        read_checkpoint(bad)
    assert str(bad) in str(error.value)
    assert "step8.ckpt" in str(error.value)  # what the user can resume from instead


def test_a_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Path("/etc/passwd")}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_checkpoint(path)


def test_a_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"missing\.ckpt not found"):
        read_checkpoint(tmp_path / "missing.ckpt")

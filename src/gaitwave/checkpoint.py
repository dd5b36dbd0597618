"""Checkpoint files: written atomically, read weights-only, and a bad one named with its fault.

`AtomicCheckpointIO` is the Lightning `CheckpointIO` of every gaitwave trainer: a checkpoint goes
to a temporary file beside its target, is fsynced and renamed over it (`gaitwave.atomic`), so a
process killed during the write leaves the previous checkpoint whole. `read_checkpoint` is the
one reader (training resume, `gaitwave-eval`): `torch.load(weights_only=True)`, so nothing in the
file can run code, and a missing, truncated or corrupt file raises `CheckpointError` naming it,
what is wrong, and the other checkpoints of its folder.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from gaitwave.atomic import atomic_write

LAST_CHECKPOINT = "last.ckpt"  # ModelCheckpoint's save_last name, and the preemption one's


def last_checkpoint(run_dir: str | Path) -> Path:
    """`<run_dir>/checkpoints/last.ckpt`: where a run's latest state is (`ckpt_path=last`)."""
    return Path(run_dir) / "checkpoints" / LAST_CHECKPOINT


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, corrupt, or not a training checkpoint."""


def _others(path: Path) -> str:
    """The other checkpoints beside `path`, newest first, for the error message."""
    folder = path.parent
    others = sorted(
        (p for p in folder.glob("*.ckpt") if p != path),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if not others:
        return f"no other checkpoint in {folder}"
    return f"other checkpoints in {folder}: " + ", ".join(p.name for p in others[:5])


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict at `path`, loaded on the CPU with `weights_only=True`.

    Raises `CheckpointError` for a missing, empty, truncated or corrupt file, naming the file,
    the fault and the alternatives."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found ({_others(path)})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); {_others(path)}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is truncated or corrupt ({reason}). It may "
            f"have been cut short by a full disk or a copy; {_others(path)}"
        ) from error
    except Exception as error:  # torch's unpickler refusing a non-weights object
        raise CheckpointError(
            f"checkpoint {path} holds objects other than tensors and plain containers, which "
            f"gaitwave does not load (weights_only=True): {error}"
        ) from error
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"checkpoint {path} holds a {type(checkpoint).__name__}, not a checkpoint dict"
        )
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: atomic, fsynced writes; weights-only reads with named errors."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        with atomic_write(path, "wb") as file:
            torch.save(checkpoint, file)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Always weights-only, always to the CPU (Lightning moves the state where it runs)."""
        return read_checkpoint(path)

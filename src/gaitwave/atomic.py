"""Files written whole or not at all: a temporary file beside the target, flushed and fsynced,
then renamed over it (`os.replace` is atomic on POSIX and Windows).

A process killed during the write, or a full disk, leaves the previous version of the file (or
no file) in place, never a truncated one; the temporary file is removed when the write fails.
Every file gaitwave may rewrite (checkpoints, status, reports, metrics, dataset files) goes
through here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", fsync: bool = True) -> Iterator[IO]:
    """Open a temporary file for writing (`mode` "w" or "wb"); on success it replaces `path`.

    With `fsync`, the data and the rename reach the disk before returning (checkpoints, status);
    without, only the atomicity holds (many small dataset files).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode '{mode}': use 'w' (text) or 'wb' (binary)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode, **({"newline": ""} if mode == "w" else {})) as file:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)


def write_text(path: str | Path, text: str, fsync: bool = True) -> None:
    """`path.write_text(text)`, atomically."""
    with atomic_write(path, "w", fsync) as file:
        file.write(text)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

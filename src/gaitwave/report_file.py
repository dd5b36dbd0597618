"""Report files (``metrics.json``, ``per_view.csv``, ``report.md``, figures, ...) written whole
or not at all, with an error that names the file.

A failed write (a full disk, no permission) leaves the previous version of the file in place
(``gaitwave.atomic``); the OSError of a failed ``write()`` or ``fsync()`` names no file, so
:func:`report_file` adds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from gaitwave.atomic import atomic_write


@contextmanager
def report_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open ``path`` for an atomic write (mode ``"w"`` or ``"wb"``); an OSError on the way
    names ``path`` (``[Errno 28] No space left on device: '<path>'``)."""
    try:
        with atomic_write(path, mode) as file:
            yield file
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise

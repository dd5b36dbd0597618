"""A run folder that cannot be written fails at start, not at the first checkpoint hours later.

`gaitwave-train` calls :func:`ensure_writable` on `paths.output_dir` before it writes anything
(`status.json` included): a read-only folder, or one whose parent does not let it be created,
raises :class:`RunFolderNotWritable` naming the folder and the overrides that choose another.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class RunFolderNotWritable(OSError):
    """The run folder cannot be created or written."""


def ensure_writable(run_dir: str | Path) -> None:
    """Create `run_dir` (and its parents) if missing, then create and remove a probe file in it.

    Raises `RunFolderNotWritable` (with the OSError as its cause) when either step fails.
    """
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-probe-", dir=run_dir)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise RunFolderNotWritable(
            f"run folder {run_dir} cannot be written ({error.strerror or error}: "
            f"{error.filename}); fix its permissions, or write the run elsewhere with "
            "paths.output_dir=DIR (or hydra.run.dir=DIR; hydra.sweep.dir=DIR for a multirun)"
        ) from error

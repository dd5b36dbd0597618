"""`status.json` in every run folder: running, completed or failed, with the error and when.

    {"status": "running" | "completed" | "failed", "started": ISO time, "finished": ISO time,
     "wall_s": seconds, "error": "Type: message"}

A failed run also gets `traceback.txt`. A run killed hard stays "running": unfinished.
`gaitwave-report` reads these to list failed and unfinished jobs of a sweep.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

STATUS_FILE = "status.json"
TRACEBACK_FILE = "traceback.txt"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStatus:
    """Writes `status.json` into `run_dir` as the run starts, completes or fails (atomically)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._start = time.monotonic()
        self._started = _now()
        self._write("running")

    def _write(self, status: str, error: BaseException | None = None) -> None:
        finished = status != "running"
        record = {
            "status": status,
            "started": self._started,
            "finished": _now() if finished else None,
            "wall_s": round(time.monotonic() - self._start, 1) if finished else None,
            "error": None if error is None else f"{type(error).__name__}: {error}",
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / f".{STATUS_FILE}.tmp"
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, self.run_dir / STATUS_FILE)

    def completed(self) -> None:
        self._write("completed")

    def failed(self, error: BaseException) -> None:
        """Status "failed" with the error line, and the whole traceback in `traceback.txt`."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        (self.run_dir / TRACEBACK_FILE).write_text(text)
        self._write("failed", error)


def read_status(run_dir: Path) -> dict | None:
    """The run's status record, or None when it has no status file."""
    path = Path(run_dir) / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else None

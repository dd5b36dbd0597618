"""`status.json` in every run folder: running, completed or failed, with the error and when.

    {"status": "running" | "completed" | "failed" | "interrupted", "started": ISO time,
     "finished": ISO time, "wall_s": seconds, "error": "Type: message"}

A failed run also gets `traceback.txt`; an interrupted one (stopped by a signal, see
`gaitwave.callbacks.preemption`) also gets `"checkpoint"` (the file to resume from, or null) and
`"resume"` (the command that continues it). A run killed hard stays "running": unfinished.
Both "running" and "interrupted" runs are resumed by `gaitwave-train` in the same folder.
`gaitwave-report` reads these to list failed and unfinished jobs of a sweep.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from gaitwave.atomic import write_text

STATUS_FILE = "status.json"
RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"
TRACEBACK_FILE = "traceback.txt"


@contextmanager
def _children_signals_deferred() -> Iterator[None]:
    """SIGCHLD held back while the status is written: when DataLoader workers die, torch's
    SIGCHLD handler raises in the main thread wherever it is, which would cut the write of the
    failed status short; the signal is delivered (and raises) after the write."""
    can_mask = hasattr(signal, "pthread_sigmask") and hasattr(signal, "SIGCHLD")
    if not can_mask or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStatus:
    """Writes `status.json` into `run_dir` as the run starts, completes or fails (atomically)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._start = time.monotonic()
        self._started = _now()
        self._write(RUNNING)

    def _write(self, status: str, error: BaseException | None = None, **extra: str | None) -> None:
        finished = status != RUNNING
        record = {
            "status": status,
            "started": self._started,
            "finished": _now() if finished else None,
            "wall_s": round(time.monotonic() - self._start, 1) if finished else None,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            **extra,
        }
        write_text(self.run_dir / STATUS_FILE, json.dumps(record, indent=2) + "\n")

    def completed(self) -> None:
        with _children_signals_deferred():
            self._write(COMPLETED)

    def failed(self, error: BaseException) -> None:
        """Status "failed" with the error line, and the whole traceback in `traceback.txt`."""
        with _children_signals_deferred():
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            write_text(self.run_dir / TRACEBACK_FILE, text)
            self._write(FAILED, error)

    def interrupted(self, stop: BaseException, checkpoint: Path | None, resume: str) -> None:
        """Status "interrupted": stopped by a signal, `checkpoint` to resume from, and how."""
        self._write(
            INTERRUPTED, stop, checkpoint=str(checkpoint) if checkpoint else None, resume=resume
        )


def read_status(run_dir: Path) -> dict | None:
    """The run's status record, or None when it has no status file."""
    path = Path(run_dir) / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else None

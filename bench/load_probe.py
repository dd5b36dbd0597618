"""A Hydra callback that records the process's load after every job of a multirun.

Configured on the command line (this folder must be on the job process's PYTHONPATH):

    gaitwave-train -m ... +hydra.callbacks.load_probe._target_=load_probe.LoadProbe \
        +hydra.callbacks.load_probe.path=/tmp/load.csv

After each job (W&B run finished, the job's objects released: `gc.collect()` first, so only what
is still referenced counts, then glibc's `malloc_trim(0)`, so that RSS is not the freed memory
the allocator keeps) it appends one row to the CSV at `path`, rewritten whole each time:
resident memory and its peak (MB, /proc/self/status VmRSS / VmHWM), threads (the kernel's count
and Python's `threading.active_count()`), open file descriptors (/proc/self/fd) and the direct
child processes with their names (/proc/self/task/*/children), and the objects the garbage
collector tracks (a job's leaked trainer, model or loaders would stay among them). Linux, glibc.
"""

from __future__ import annotations

import csv
import ctypes
import gc
import io
import os
import threading
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gaitwave.atomic import write_text

COLUMNS = [
    "job",
    "status",
    "rss_mb",
    "peak_rss_mb",
    "threads",
    "python_threads",
    "fds",
    "children",
    "child_names",
    "objects",
]


def proc_status() -> dict[str, str]:
    """/proc/self/status as {field: value}."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def child_pids() -> list[int]:
    """Direct children of this process (of any of its threads)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(pid) for pid in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return sorted(pids)


def child_name(pid: int) -> str:
    """The command name of process `pid` ("?" if it has ended)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return "?"


def sample() -> dict[str, Any]:
    """The load of this process now: memory (MB), threads, descriptors, children, objects."""
    status = proc_status()
    children = child_pids()
    return {
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024,  # "123456 kB"
        "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "python_threads": threading.active_count(),
        "fds": len(os.listdir("/proc/self/fd")) - 1,  # less the descriptor listdir opens
        "children": len(children),
        "child_names": " ".join(child_name(pid) for pid in children),
        "objects": len(gc.get_objects()),
    }


class LoadProbe(Callback):
    """Appends a `sample()` row, with the job number and its Hydra status, to the CSV at `path`
    when each job ends."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        row = {"job": len(self.rows) + 1, "status": job_return.status.name, **sample()}
        self.rows.append(row)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, text.getvalue())

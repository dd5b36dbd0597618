"""A DataLoader whose dead workers end the run with an error that says so.

When a loader worker is killed (out of memory, a signal), torch names it ("DataLoader worker
(pid N) is killed by signal") only if it notices the death before it next reads from the
worker's pipe; otherwise the main process gets a bare `ConnectionResetError` or `EOFError`.
`WorkerLoader` turns those into `LoaderWorkerError`, naming the likely cause and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader


class LoaderWorkerError(RuntimeError):
    """A DataLoader worker process stopped answering (killed, or died)."""


class _NamingWorkerDeaths(Iterator):
    def __init__(self, iterator: Iterator, num_workers: int) -> None:
        self._iterator = iterator
        self._num_workers = num_workers

    def __next__(self) -> Any:
        try:
            return next(self._iterator)
        except (ConnectionError, EOFError) as error:
            raise LoaderWorkerError(
                f"a DataLoader worker (one of data.datamodule.num_workers={self._num_workers}) "
                f"stopped answering ({type(error).__name__}: {error}): it was killed, most likely "
                "by the system for lack of memory; give the job more memory or lower "
                "data.datamodule.num_workers (0 loads in the training process)"
            ) from error


class WorkerLoader(DataLoader):
    """`torch.utils.data.DataLoader`; with workers, a dead one raises `LoaderWorkerError`."""

    def __iter__(self) -> Iterator:
        iterator = super().__iter__()
        return (
            iterator if self.num_workers == 0 else _NamingWorkerDeaths(iterator, self.num_workers)
        )

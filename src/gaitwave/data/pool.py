"""The process pool of the data tools (SynthGait generation, gaitwave-prepare)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import cv2

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# A spawned child sets the parent's default start method again; inside a joblib worker (the jobs
# of hydra/launcher=local) that is joblib's own "loky", which a child cannot set, so the pool
# would break at once: there the work runs in the calling process.
STANDARD_METHODS = (None, "fork", "spawn", "forkserver")

Job = TypeVar("Job")
Result = TypeVar("Result")


def one_thread() -> None:
    """One BLAS / OpenMP / OpenCV thread in this process: the pool provides the parallelism
    (two processes of 2 threads each on 2 cores run about 11x slower)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    cv2.setNumThreads(1)


def parallel_map(
    function: Callable[[Job], Result], jobs: Iterable[Job], workers: int, chunksize: int
) -> Iterator[Result]:
    """`map(function, jobs)` over `workers` processes (1: in this process), results in order.

    The pool uses spawn, not fork: the caller may hold threads (torch, a test runner) whose locks
    a forked child would inherit held, and hang on; scripts that call it need a `__main__` guard.
    """
    if workers > 1 and multiprocessing.get_start_method(allow_none=True) not in STANDARD_METHODS:
        workers = 1  # see `STANDARD_METHODS`
    if workers == 1:
        one_thread()
        yield from map(function, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=one_thread) as pool:
        yield from pool.map(function, jobs, chunksize=chunksize)

"""Shared timing for the benchmarks: two candidates measured side by side in one process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def seconds(step: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call of `step` (CUDA work included)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(
    first: Callable[[], object],
    second: Callable[[], object],
    device: torch.device,
    repeats: int,
    warmup: int,
) -> tuple[float, float, float]:
    """Median seconds of `first` and `second`, and the median of `second / first` per repeat.

    The two run in turn within every repetition, in alternating order (A B, B A, ...), so the
    noise of a shared machine hits both alike.
    """
    first_times, second_times = [], []
    for repeat in range(warmup + repeats):
        if repeat % 2 == 0:
            a, b = seconds(first, device), seconds(second, device)
        else:
            b, a = seconds(second, device), seconds(first, device)
        if repeat >= warmup:
            first_times.append(a)
            second_times.append(b)
    ratios = [b / a for a, b in zip(first_times, second_times, strict=True)]
    return (
        statistics.median(first_times),
        statistics.median(second_times),
        statistics.median(ratios),
    )

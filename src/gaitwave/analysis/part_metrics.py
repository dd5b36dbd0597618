"""Each part alone, per report row: the test metrics of every horizontal strip evaluated on its
own, averaged over the row's seeds.

Read from the ``per_part.csv`` that an evaluation with ``eval.per_part=true`` writes into a run
folder (:mod:`gaitwave.evaluation.parts`: columns ``part`` then the protocol's metric keys, one
line per part, part 0 the top strip). Completed jobs without the file are left out; a row whose
jobs have none gets no entry. Against the baseline row, per part and metric, the paired
difference over the seeds both rows evaluated (:func:`paired_parts`).
:mod:`gaitwave.analysis.tables` renders them.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitwave.analysis.runs import Job
from gaitwave.analysis.stats import PairedDifference, paired_difference
from gaitwave.evaluation.report import PER_PART_FILE


@dataclass(frozen=True)
class PartMetrics:
    """One report row: ``mean`` and ``std`` (ddof = 1, NaN for one job) over its ``n_jobs`` jobs
    with a ``per_part.csv``, ``[P, len(keys)]`` percent, part 0 (top) first; ``by_seed``: each
    seeded job's values ``[P, len(keys)]``."""

    row: str
    n_jobs: int
    keys: list[str]
    mean: np.ndarray
    std: np.ndarray
    by_seed: dict[int, np.ndarray]


def read_per_part(path: Path) -> tuple[list[str], np.ndarray]:
    """``per_part.csv`` -> (metric keys, values ``[P, K]``, NaN for an empty cell). Raises
    ValueError naming the file when the header lacks ``part``, the parts are not 0..P-1 in
    order, or a value is not a number."""
    with path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    if not lines or not lines[0] or lines[0][0] != "part" or len(lines) < 2:
        raise ValueError(
            f"{path}: expected a header `part,<metric>,...` and one line per part, as "
            "eval.per_part=true writes it"
        )
    keys, values = lines[0][1:], []
    for number, line in enumerate(lines[1:], start=2):
        try:
            if int(line[0]) != number - 2 or len(line) != len(keys) + 1:
                raise ValueError(f"expected part {number - 2} with {len(keys)} values")
            values.append([float(cell) if cell else np.nan for cell in line[1:]])
        except ValueError as error:
            raise ValueError(f"{path} line {number}: {error}") from error
    return keys, np.array(values, dtype=float)


def part_metrics(rows: Mapping[str, Sequence[Job]]) -> tuple[list[PartMetrics], list[str]]:
    """Per row (label -> its completed jobs), the :class:`PartMetrics` of the jobs that have
    ``per_part.csv``, and notes on the files left out (unreadable, or other keys or another
    number of parts than the row's first)."""
    found, notes = [], []
    for label, jobs in rows.items():
        tables: list[tuple[Job, Path, list[str], np.ndarray]] = []
        for job in jobs:
            path = job.folder / PER_PART_FILE
            if not path.is_file():
                continue
            try:
                tables.append((job, path, *read_per_part(path)))
            except (OSError, ValueError) as error:
                notes.append(f"{error}; left out of the per-part metrics")
        if not tables:
            continue
        _, first, keys, values = tables[0]
        kept = []
        for job, path, other_keys, other in tables:
            if other_keys != keys or other.shape != values.shape:
                notes.append(
                    f"{path}: {other.shape[0]} parts x {other_keys}, not {values.shape[0]} x "
                    f"{keys} as in {first}; left out of the per-part metrics of row '{label}'"
                )
            else:
                kept.append((job.seed, other))
        stack = np.stack([other for _, other in kept])  # [jobs, P, K]
        std = stack.std(axis=0, ddof=1) if len(kept) > 1 else np.full(values.shape, np.nan)
        by_seed = {seed: other for seed, other in kept if seed is not None}
        found.append(PartMetrics(label, len(kept), keys, stack.mean(axis=0), std, by_seed))
    return found, notes


def paired_parts(row: PartMetrics, baseline: PartMetrics, key: str) -> list[PairedDifference]:
    """Per part, ``row - baseline`` of metric ``key`` paired by seed, with its 95 % interval
    (no pairs where either row lacks ``key`` or they differ in the number of parts)."""
    parts = row.mean.shape[0]
    if key not in row.keys or key not in baseline.keys or baseline.mean.shape[0] != parts:
        return [paired_difference({}, {}) for _ in range(parts)]
    column, base_column = row.keys.index(key), baseline.keys.index(key)
    return [
        paired_difference(
            {seed: float(v[part, column]) for seed, v in row.by_seed.items()},
            {seed: float(v[part, base_column]) for seed, v in baseline.by_seed.items()},
        )
        for part in range(parts)
    ]

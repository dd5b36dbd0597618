"""Each part alone, per report row: the test metrics of every horizontal strip evaluated on its
own, averaged over the row's seeds.

Read from the ``per_part.csv`` that an evaluation with ``eval.per_part=true`` writes into a run
folder (:mod:`gaitwave.evaluation.parts`: columns ``part`` then the protocol's metric keys, one
line per part, part 0 the top strip). Completed jobs without the file are left out; a row whose
jobs have none gets no entry. :mod:`gaitwave.analysis.tables` renders them.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitwave.evaluation.report import PER_PART_FILE


@dataclass(frozen=True)
class PartMetrics:
    """One report row: ``mean`` and ``std`` (ddof = 1, NaN for one job) over its ``n_jobs`` jobs
    with a ``per_part.csv``, ``[P, len(keys)]`` percent, part 0 (top) first."""

    row: str
    n_jobs: int
    keys: list[str]
    mean: np.ndarray
    std: np.ndarray


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


def part_metrics(rows: Mapping[str, Sequence[Path]]) -> tuple[list[PartMetrics], list[str]]:
    """Per row (label -> its completed job folders), the :class:`PartMetrics` of the jobs that
    have ``per_part.csv``, and notes on the files left out (unreadable, or other keys or another
    number of parts than the row's first)."""
    found, notes = [], []
    for label, folders in rows.items():
        tables: list[tuple[Path, list[str], np.ndarray]] = []
        for folder in folders:
            path = folder / PER_PART_FILE
            if not path.is_file():
                continue
            try:
                tables.append((path, *read_per_part(path)))
            except (OSError, ValueError) as error:
                notes.append(f"{error}; left out of the per-part metrics")
        if not tables:
            continue
        first, keys, values = tables[0]
        kept = []
        for path, other_keys, other in tables:
            if other_keys != keys or other.shape != values.shape:
                notes.append(
                    f"{path}: {other.shape[0]} parts x {other_keys}, not {values.shape[0]} x "
                    f"{keys} as in {first}; left out of the per-part metrics of row '{label}'"
                )
            else:
                kept.append(other)
        stack = np.stack(kept)  # [jobs, P, K]
        std = stack.std(axis=0, ddof=1) if len(kept) > 1 else np.full(values.shape, np.nan)
        found.append(PartMetrics(label, len(kept), keys, stack.mean(axis=0), std))
    return found, notes

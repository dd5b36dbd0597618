"""Part weights of the fusion over training, per report row and loss term: how far the fusion
tilts omega away from 1 and which parts it favours.

Read from the ``fusion_weights.csv`` that the ``FusionDiagnostics`` callback writes into every
run folder (columns ``step,term,part,F,omega``, one line per logged step, term and part; part 0
is the top horizontal strip of the silhouette, P-1 the bottom). Completed jobs without the file
(runs older than the callback) are left out.

Per job and term: the tilt ``ratio = max_p omega / min_p omega`` at each logged step, its median
and maximum over training and the fraction of logged steps with ``ratio > 1.05``; omega and the
part losses F per part, averaged over the logged steps. Per row: those averaged over the jobs
(seeds), with the std over seeds for the ratios. :mod:`gaitwave.analysis.tables` renders them.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitwave.analysis.stats import Summary, summarize

FUSION_WEIGHTS_CSV = "fusion_weights.csv"  # written by gaitwave.callbacks.FusionDiagnostics
FUSION_WEIGHTS_COLUMNS = ("step", "term", "part", "F", "omega")
TILT_THRESHOLD = 1.05
NUM_EXTREME_PARTS = 3


@dataclass(frozen=True)
class PartLog:
    """One term of one ``fusion_weights.csv``: logged ``steps`` ``[S]``, part losses ``F`` and
    weights ``omega`` ``[S, P]`` (NaN where a step lacks a part)."""

    steps: np.ndarray
    F: np.ndarray
    omega: np.ndarray

    @property
    def ratios(self) -> np.ndarray:
        """``max_p omega / min_p omega`` per logged step, ``[S]``."""
        return np.nanmax(self.omega, axis=1) / np.nanmin(self.omega, axis=1)


def read_fusion_log(path: Path) -> dict[str, PartLog]:
    """``fusion_weights.csv`` -> per term (in order of appearance), its :class:`PartLog`; the
    last line written for a (step, term, part) wins, so steps a resumed run repeats count once.
    Raises ValueError naming the file when a column is missing or a value is not a number."""
    table: dict[str, dict[int, dict[int, tuple[float, float]]]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in FUSION_WEIGHTS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path} lacks column(s) {', '.join(missing)}: expected "
                f"{','.join(FUSION_WEIGHTS_COLUMNS)} as FusionDiagnostics writes it"
            )
        for line in reader:
            try:
                step, part = int(line["step"]), int(line["part"])
                values = float(line["F"]), float(line["omega"])
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path} line {reader.line_num}: {error}") from error
            table.setdefault(line["term"], {}).setdefault(step, {})[part] = values
    logs = {}
    for term, by_step in table.items():
        steps = sorted(by_step)
        parts = sorted({part for by_part in by_step.values() for part in by_part})
        values = np.array(
            [[by_step[s].get(p, (np.nan, np.nan)) for p in parts] for s in steps], dtype=float
        )  # [S, P, 2]
        logs[term] = PartLog(np.array(steps), values[..., 0], values[..., 1])
    return logs


@dataclass(frozen=True)
class TermWeights:
    """One loss term of one report row, over its ``n_jobs`` completed jobs with a log.

    ``median_ratio``, ``max_ratio``: the median and maximum over training of the per-step tilt
    ratio, summarised over jobs (mean, std); ``tilted``: the fraction of logged steps with ratio
    > 1.05, likewise; ``mean_omega``, ``mean_F``: ``[P]``, averaged over steps, then jobs.
    """

    row: str
    term: str
    n_jobs: int
    median_ratio: Summary
    max_ratio: Summary
    tilted: Summary
    mean_omega: np.ndarray
    mean_F: np.ndarray

    @property
    def uniform(self) -> bool:
        """Every part has the same mean omega (post- and pre-fusion: all 1)."""
        return bool(np.nanmax(self.mean_omega) - np.nanmin(self.mean_omega) <= 1e-6)

    def favoured(self, most: bool = True) -> list[int]:
        """The 3 parts with the highest mean omega, highest first (``most=False``: the lowest,
        lowest first); ties in part order."""
        order = np.argsort(-self.mean_omega if most else self.mean_omega, kind="stable")
        return [int(part) for part in order[:NUM_EXTREME_PARTS]]


def summarize_term(row: str, term: str, logs: Sequence[PartLog]) -> TermWeights:
    """The :class:`TermWeights` of ``logs`` (one per job, all with the same number of parts)."""
    ratios = [log.ratios for log in logs]
    return TermWeights(
        row=row,
        term=term,
        n_jobs=len(logs),
        median_ratio=summarize([float(np.median(r)) for r in ratios]),
        max_ratio=summarize([float(np.max(r)) for r in ratios]),
        tilted=summarize([float(np.mean(r > TILT_THRESHOLD)) for r in ratios]),
        mean_omega=np.mean([np.nanmean(log.omega, axis=0) for log in logs], axis=0),
        mean_F=np.mean([np.nanmean(log.F, axis=0) for log in logs], axis=0),
    )


def part_weights(rows: Mapping[str, Sequence[Path]]) -> tuple[list[TermWeights], list[str]]:
    """Per row (label -> its completed job folders) and term, the :class:`TermWeights` of the
    jobs that have ``fusion_weights.csv``, grouped by term (terms in order of appearance), and
    notes on the logs left out (unreadable, or another number of parts than the row's first)."""
    found: dict[str, list[TermWeights]] = {}
    notes = []
    for label, folders in rows.items():
        logs: dict[str, list[tuple[Path, PartLog]]] = {}
        for folder in folders:
            path = folder / FUSION_WEIGHTS_CSV
            if not path.is_file():
                continue
            try:
                for term, log in read_fusion_log(path).items():
                    logs.setdefault(term, []).append((path, log))
            except (OSError, ValueError) as error:
                notes.append(f"{error}; left out of the part weights")
        for term, term_logs in logs.items():
            parts = term_logs[0][1].omega.shape[1]
            for path, log in term_logs:
                if log.omega.shape[1] != parts:
                    notes.append(
                        f"{path}: {log.omega.shape[1]} parts for '{term}', not {parts} as in "
                        f"{term_logs[0][0]}; left out of the part weights of row '{label}'"
                    )
            kept = [log for _, log in term_logs if log.omega.shape[1] == parts]
            found.setdefault(term, []).append(summarize_term(label, term, kept))
    return [weights for term_rows in found.values() for weights in term_rows], notes

"""The ablation report's numbers: run folders grouped into rows, mean ± std over seeds, paired
differences against a baseline row, the exponent-range grid, the part weights and the jobs that
failed or never finished. :mod:`gaitwave.analysis.tables` renders them.

Rows: jobs with the same overrides (in any order), leaving out ``seed=...`` and overrides of
``paths.*`` and ``hydra.*``, and the same config ``row`` form one row, in the order they first
appear. A row is
labelled by its config's ``row`` when set, else by its overrides (those shared by every row left
out), else ``(defaults)``.

Metrics: the protocol's headline keys (:func:`headline_metrics`) unless chosen. Statistics per
row and metric: mean, sample std (ddof = 1) and n over the completed jobs.

Baseline: the row named by ``--baseline``, else the row the ablation declares
(``hydra.sweeper.baseline`` in the sweep's ``multirun.yaml``, see
:func:`~gaitwave.analysis.runs.declared_baseline`), else the row labelled ``post``, else the first
with ``fusion=post``. Per seed both rows ran, ``row - baseline``; the mean difference and its
95 % Student t interval.

l grid: for an exponent-range ablation (config ``ablation: l_grid``, or rows varying both l_min
and l_max), the headline metric's mean per (l_min, l_max).

Part weights (:mod:`gaitwave.analysis.weights`): per row and loss term, how far the fusion tilts
omega over the parts, from the completed jobs' ``fusion_weights.csv``. Each part alone
(:mod:`gaitwave.analysis.part_metrics`): per row, the test metrics of every part evaluated on
its own, from the completed jobs' ``per_part.csv`` (runs evaluated with ``eval.per_part``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitwave.analysis import part_metrics, weights
from gaitwave.analysis.plots import LGrid
from gaitwave.analysis.runs import (
    COMPLETED,
    RUNNING,
    UNKNOWN,
    UNREADABLE,
    Job,
    ReportError,
    declared_baseline,
    find_run_folders,
    override_key,
    read_job,
)
from gaitwave.analysis.stats import PairedDifference, Summary, paired_difference, summarize

IGNORED_OVERRIDE_ROOTS = ("seed", "paths", "hydra")
CONDITION_ORDER = ("NM", "BG", "CL")
SUMMARY_NAMES = ("rank1", "rank5", "rank10", "mAP", "mINP")
BASELINE_FUSION = "fusion=post"
BASELINE_LABEL = "post"
L_GRID_ABLATION = "l_grid"


@dataclass
class Row:
    """The jobs of one configuration, every seed. ``overrides``: the grouping key."""

    label: str
    overrides: tuple[str, ...]
    jobs: list[Job] = field(default_factory=list)

    @property
    def completed(self) -> list[Job]:
        return [job for job in self.jobs if job.status == COMPLETED and job.metrics]

    @property
    def seeds(self) -> list[int]:
        """The seed of every completed job (that has one), in job order."""
        return [job.seed for job in self.completed if job.seed is not None]

    def values(self, metric: str) -> list[float]:
        """``metric`` of every completed job that has a finite value for it."""
        values = [job.metrics.get(metric, math.nan) for job in self.completed]
        return [value for value in values if math.isfinite(value)]

    def by_seed(self, metric: str) -> dict[int, float]:
        """seed -> ``metric``, the first completed job of each seed."""
        found: dict[int, float] = {}
        for job in self.completed:
            value = job.metrics.get(metric, math.nan)
            if job.seed is not None and job.seed not in found and math.isfinite(value):
                found[job.seed] = value
        return found

    @property
    def l_range(self) -> tuple[float, float] | None:
        return next((job.l_range for job in self.jobs if job.l_range is not None), None)


@dataclass(frozen=True)
class Problem:
    """A job that is not (fully) in the table: failed, unfinished, unreadable or missing keys."""

    folder: Path
    row: str
    seed: int | None
    status: str
    error: str


@dataclass
class AblationReport:
    """Everything the report shows; built by :func:`build_report`."""

    dirs: list[str]
    num_jobs: int
    rows: list[Row]
    metrics: list[str]
    summaries: dict[tuple[str, str], Summary | None]  # (row label, metric)
    baseline: Row | None
    baseline_note: str
    paired: dict[tuple[str, str], PairedDifference]  # (row label, metric), non-baseline rows
    problems: list[Problem]
    common_overrides: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    l_grid: LGrid | None = None
    part_weights: list[weights.TermWeights] = field(default_factory=list)  # grouped by term
    part_metrics: list[part_metrics.PartMetrics] = field(default_factory=list)  # per row

    @property
    def headline(self) -> str:
        return headline_metric(self.metrics)


def _override_root(override: str) -> str:
    return re.split(r"[./]", override_key(override), maxsplit=1)[0]


def group_overrides(overrides: Iterable[str]) -> tuple[str, ...]:
    """The overrides that define a row: all but ``seed`` and ``paths.*`` / ``hydra.*`` ones."""
    return tuple(o for o in overrides if _override_root(o) not in IGNORED_OVERRIDE_ROOTS)


def group_rows(jobs: Sequence[Job]) -> list[Row]:
    """Readable jobs grouped by :func:`group_overrides`, rows in order of first appearance,
    labelled as the module docstring says (a label used twice gets its overrides appended)."""
    rows: dict[tuple[str | None, tuple[str, ...]], Row] = {}
    for job in jobs:
        if job.status != UNREADABLE:
            overrides = group_overrides(job.overrides)
            # the order of overrides on a command line does not change the job
            key = (job.row, tuple(sorted(overrides)))  # another `row` label: another row
            rows.setdefault(key, Row(label="", overrides=overrides)).jobs.append(job)
    common = _common_overrides([row.overrides for row in rows.values()])
    for row in rows.values():
        named = next((job.row for job in row.jobs if job.row is not None), None)
        plain = " ".join(o for o in row.overrides if o not in common)
        row.label = named or plain or "(defaults)"
    labels = [row.label for row in rows.values()]
    for row in rows.values():
        if labels.count(row.label) > 1:
            row.label = f"{row.label} ({' '.join(row.overrides) or 'defaults'})"
    return list(rows.values())


def _common_overrides(keys: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The overrides every row has (none with a single row: its overrides are its label)."""
    if len(keys) < 2:
        return ()
    return tuple(o for o in keys[0] if all(o in key for key in keys[1:]))


def _condition_order(key: str, prefix: str) -> tuple[int, str]:
    condition = key[len(prefix) :].split("/", 1)[0]
    order = CONDITION_ORDER.index(condition) if condition in CONDITION_ORDER else 99
    return order, condition


def headline_metrics(keys: Iterable[str]) -> list[str]:
    """The protocol's headline keys among ``keys`` (of ``metrics.json``).

    View protocols (CASIA-B, OU-MVLP: ``NM/rank1``, ..., ``mean/rank1``, no mINP): each
    condition's rank-1 (NM, BG, CL first) and ``mean/rank1``. Retrieval protocols (mINP keys):
    those of rank1, rank5, rank10, mAP, mINP present, after the key prefix (``rank1``,
    ``unofficial_proxy/rank1``); with probe groups, each group's rank-1 then the groups' mean ones
    (``mean/rank1``, ..., ``mean/mINP``).
    """
    keys = list(dict.fromkeys(keys))
    retrieval = any(key.rsplit("/", 1)[-1] == "mINP" for key in keys)
    mean_rank1 = [k for k in keys if k == "mean/rank1" or k.endswith("/mean/rank1")]
    if mean_rank1:
        prefix = mean_rank1[0][: -len("mean/rank1")]
        conditions = [
            key
            for key in keys
            if key.startswith(prefix)
            and key.endswith("/rank1")
            and key.count("/") == prefix.count("/") + 1
            and key != mean_rank1[0]
        ]
        conditions.sort(key=lambda key: _condition_order(key, prefix))
        if not retrieval:
            return [*conditions, mean_rank1[0]]
        means = [f"{prefix}mean/{name}" for name in SUMMARY_NAMES]
        return conditions + [key for key in means if key in keys]
    flat = [key for key in keys if key.rsplit("/", 1)[-1] == "rank1"]
    if not flat:
        return []
    prefix = flat[0][: -len("rank1")]
    return [f"{prefix}{name}" for name in SUMMARY_NAMES if f"{prefix}{name}" in keys]


def headline_metric(metrics: Sequence[str]) -> str:
    """The one metric a row is judged by, the first of ``metrics`` that ends with ``mean/rank1``,
    else ends with ``rank1``, else has ``mean/``, else the first."""
    tests = (
        lambda key: key.endswith("mean/rank1"),
        lambda key: key.endswith("rank1"),
        lambda key: "mean/" in key,
    )
    for test in tests:
        found = [key for key in metrics if test(key)]
        if found:
            return found[0]
    return metrics[0]


def find_baseline(
    rows: Sequence[Row], label: str | None, declared: str | None = None
) -> tuple[Row | None, str]:
    """The baseline row and a sentence on how it was chosen (or why there is none).

    ``label`` names a row (its label or its overrides joined by spaces); without it, the row the
    ablation declares (``hydra.sweeper.baseline`` in its ``multirun.yaml``), else the row
    labelled ``post`` or, failing that, the first whose overrides contain ``fusion=post``.
    """
    if label is not None:
        for row in rows:
            if label in (row.label, " ".join(row.overrides)):
                return row, f"baseline '{row.label}' (chosen with --baseline)"
        known = ", ".join(f"'{row.label}'" for row in rows)
        raise ReportError(f"--baseline {label!r} names no row; the rows are: {known}")
    for row in rows:
        if declared is not None and row.label == declared:
            return row, f"baseline '{row.label}' (declared by the ablation)"
    for row in rows:
        if row.label == BASELINE_LABEL:
            return row, f"baseline '{row.label}' (the row labelled '{BASELINE_LABEL}')"
    for row in rows:
        if BASELINE_FUSION in row.overrides:
            return row, f"baseline '{row.label}' (the row with '{BASELINE_FUSION}')"
    return None, (
        f"no baseline: no row is labelled '{BASELINE_LABEL}' or has '{BASELINE_FUSION}'; "
        "pick one with --baseline LABEL for paired differences"
    )


def _problems(rows: Sequence[Row], jobs: Sequence[Job], metrics: Sequence[str]) -> list[Problem]:
    """Every job not fully in the table, in job order."""
    row_of = {id(job): row.label for row in rows for job in row.jobs}
    problems = []
    for job in jobs:
        label = row_of.get(id(job), "?")
        if job.status != COMPLETED:
            error = job.error or ("unfinished" if job.status in (RUNNING, UNKNOWN) else "-")
            problems.append(Problem(job.folder, label, job.seed, job.status, error))
            continue
        if not job.metrics:
            problems.append(Problem(job.folder, label, job.seed, job.status, "no metrics.json"))
            continue
        missing = [m for m in metrics if not math.isfinite(job.metrics.get(m, math.nan))]
        if missing:
            error = "metrics.json lacks " + ", ".join(missing)
            problems.append(Problem(job.folder, label, job.seed, job.status, error))
    return problems


def _duplicate_seed_notes(rows: Sequence[Row]) -> list[str]:
    notes = []
    for row in rows:
        seeds = row.seeds
        for seed in sorted({s for s in seeds if seeds.count(s) > 1}):
            notes.append(
                f"row '{row.label}' has {seeds.count(seed)} completed runs with seed {seed}: all "
                "count in its mean and std, the first pairs with the baseline"
            )
    return notes


def build_l_grid(
    rows: Sequence[Row],
    jobs: Sequence[Job],
    summaries: dict[tuple[str, str], Summary | None],
    metric: str,
) -> tuple[LGrid | None, list[str]]:
    """The :class:`LGrid` of an exponent-range ablation (config ``ablation: l_grid``, or rows
    that vary both l_min and l_max), else None; rows without a dynamic range are left out. With
    it, notes on ranges that several rows share (the first row's mean is shown)."""
    ranged = [row for row in rows if row.l_range is not None]
    l_mins = sorted({row.l_range[0] for row in ranged})
    l_maxs = sorted({row.l_range[1] for row in ranged})
    named = any(job.ablation == L_GRID_ABLATION for job in jobs)
    if not ranged or not (named or (len(l_mins) > 1 and len(l_maxs) > 1)):
        return None, []
    values = np.full((len(l_mins), len(l_maxs)), np.nan)
    first: dict[tuple[float, float], str] = {}
    notes = []
    for row in ranged:
        if row.l_range in first:
            notes.append(
                f"rows '{first[row.l_range]}' and '{row.label}' share l_min, l_max = "
                f"{row.l_range}: the heatmap shows '{first[row.l_range]}'"
            )
            continue
        first[row.l_range] = row.label
        summary = summaries[(row.label, metric)]
        if summary is not None:
            values[l_mins.index(row.l_range[0]), l_maxs.index(row.l_range[1])] = summary.mean
    return LGrid(l_mins=l_mins, l_maxs=l_maxs, values=values, metric=metric), notes


def build_report(
    dirs: Sequence[str | Path], metrics: Sequence[str] | None = None, baseline: str | None = None
) -> AblationReport:
    """Read every run folder under ``dirs`` and compute the tables (module docstring)."""
    folders = find_run_folders(dirs)
    if not folders:
        shown = ", ".join(str(d) for d in dirs)
        raise ReportError(
            f"no run folder under {shown} (a run folder holds config.yaml, status.json or "
            "metrics.json): pass a gaitwave-train run or multirun folder, e.g. "
            "outputs/train/multiruns/<date>_<time>"
        )
    jobs = [read_job(folder) for folder in folders]
    rows = group_rows(jobs)
    available = [key for row in rows for job in row.completed for key in job.metrics]
    metrics = list(metrics) if metrics else headline_metrics(available)
    unknown = [m for m in metrics if m not in available]
    if available and (unknown or not metrics):
        keys = ", ".join(k for k in dict.fromkeys(available) if "@" not in k)
        what = f"metric(s) {', '.join(unknown)} in no" if unknown else "no rank-1 key in any"
        raise ReportError(f"{what} metrics.json; choose --metrics among: {keys}")
    summaries = {(row.label, m): summarize(row.values(m)) for row in rows for m in metrics}
    base, note = find_baseline(rows, baseline, declared_baseline(dirs))
    if not metrics:
        base, note = None, "no baseline comparison: no job completed with metrics"
    paired = {}
    if base is not None:
        for row in rows:
            if row is not base:
                for m in metrics:
                    paired[(row.label, m)] = paired_difference(row.by_seed(m), base.by_seed(m))
    grid, grid_notes = (
        build_l_grid(rows, jobs, summaries, headline_metric(metrics)) if metrics else (None, [])
    )
    part_weights, weight_notes = weights.part_weights(
        {row.label: [job.folder for job in row.completed] for row in rows}
    )
    per_part, part_notes = part_metrics.part_metrics({row.label: row.completed for row in rows})
    return AblationReport(
        dirs=[str(d) for d in dirs],
        num_jobs=len(jobs),
        rows=rows,
        metrics=metrics,
        summaries=summaries,
        baseline=base,
        baseline_note=note,
        paired=paired,
        problems=_problems(rows, jobs, metrics),
        common_overrides=_common_overrides([row.overrides for row in rows]),
        notes=_duplicate_seed_notes(rows) + grid_notes + weight_notes + part_notes,
        l_grid=grid,
        part_weights=part_weights,
        part_metrics=per_part,
    )

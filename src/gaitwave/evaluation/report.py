"""Evaluation reports: console tables, ``metrics.json``, a per-view CSV and view heatmaps.

Files written by :func:`write_report` into the run folder, from an
:class:`~gaitwave.evaluation.base.Evaluation` (a protocol's ``report`` calls it):

- ``metrics.json``: the flat metrics dict (``NM/rank1``, ``NM/rank1@000``, ``mean/rank1``, ...;
  for retrieval protocols ``rank1``, ``mAP``, ``mINP``, ...).
- ``per_view.csv`` (protocols with views): long format, one row per (condition, probe view)
  plus a ``mean`` row per condition; columns ``condition, view, rank1, mAP`` in percent, averaged
  over the gallery as the protocol averages its metrics (empty cell: no value).
- ``view_heatmaps.png`` (single-view-gallery protocols): one panel per condition, probe view
  (rows) x gallery view (columns) rank-1 in percent, every cell annotated.
- ``per_part.csv`` (evaluations with ``eval.per_part``): the metrics of each horizontal part
  alone, one line per part (:mod:`gaitwave.evaluation.parts`).

Protocols without views (Gait3D, the GREW proxy) get a console table and ``metrics.json``.

Every file is written atomically (``gaitwave.report_file``): a full disk or a killed process
leaves the previous report's file whole, and the error names the file.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from rich import box
from rich.console import Console
from rich.table import Table

from gaitwave.report_file import report_file

if TYPE_CHECKING:
    from gaitwave.evaluation.base import Evaluation
    from gaitwave.evaluation.view import ViewMatrix

PerViewRow = tuple[str, str, float, float]  # (condition, probe view or "mean", rank1, mAP)


METRICS_FILE = "metrics.json"  # the flat test metrics of a run folder
PER_PART_FILE = "per_part.csv"  # the metrics of each part alone (gaitwave.evaluation.parts)


def percent(value: float, decimals: int = 1) -> str:
    """A rate in percent as printed in the tables, ``-`` for NaN (no value)."""
    return "-" if math.isnan(value) else f"{value:.{decimals}f}"


def print_per_view_tables(
    per_view: Sequence[PerViewRow], note: str, console: Console | None = None
) -> None:
    """Print rank-1 and mAP tables: rows the conditions, columns the probe views and the mean."""
    console = console or Console()
    if not per_view:
        console.print("[yellow]No evaluation results to show.[/yellow]")
        return
    conditions = list(dict.fromkeys(row[0] for row in per_view))
    views = [*dict.fromkeys(row[1] for row in per_view if row[1] != "mean"), "mean"]
    for metric, column in (("rank-1", 2), ("mAP", 3)):
        table = Table(
            title=f"{metric} (%) per probe view, {note}",
            box=box.SIMPLE_HEAD,
            padding=(0, 0),
            pad_edge=False,
        )
        table.add_column("probe", style="bold", no_wrap=True)
        for view in views:
            style = "bold" if view == "mean" else None
            table.add_column(view, justify="right", style=style, no_wrap=True)
        for condition in conditions:
            values = {row[1]: row[column] for row in per_view if row[0] == condition}
            table.add_row(condition, *(percent(values.get(view, math.nan)) for view in views))
        console.print(table)


def print_metrics_table(
    metrics: Mapping[str, float], console: Console | None = None, title: str = "metrics"
) -> None:
    """Print the flat metrics as a two-column table (percent to two decimals, counts as ints)."""
    console = console or Console()
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for key, value in metrics.items():
        table.add_row(key, str(value) if isinstance(value, int) else percent(value, decimals=2))
    console.print(table)


def write_metrics_json(metrics: Mapping[str, float], path: Path) -> Path:
    """Write the flat metrics dict as JSON (non-finite values become ``null``)."""
    clean = {
        key: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for key, v in metrics.items()
    }
    with report_file(path) as file:
        file.write(json.dumps(clean, indent=2, sort_keys=True) + "\n")
    return path


def write_per_view_csv(per_view: Sequence[PerViewRow], path: Path) -> Path:
    """Write ``condition, view, rank1, mAP`` rows (long format; module docstring)."""
    with report_file(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["condition", "view", "rank1", "mAP"])
        for condition, view, rank1, mean_ap in per_view:
            writer.writerow(
                [condition, view] + ["" if math.isnan(v) else f"{v:.4f}" for v in (rank1, mean_ap)]
            )
    return path


def rank1_keys(keys: Sequence[str]) -> list[str]:
    """The rank-1 keys of ``keys`` (``NM/rank1``, ``rank1``, ...), in order; all of ``keys``
    where none is one: what the per-part tables and figures show."""
    return [key for key in keys if key.endswith("rank1")] or list(keys)


def write_per_part_csv(per_part: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Write ``part`` and the metric keys of each part (module docstring), one line per part."""
    keys = list(per_part[0])
    with report_file(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["part", *keys])
        for part, metrics in enumerate(per_part):
            values = (metrics.get(key, math.nan) for key in keys)
            writer.writerow([part, *("" if math.isnan(v) else f"{v:.4f}" for v in values)])
    return path


def print_per_part_table(per_part: Sequence[Mapping[str, float]], console: Console) -> None:
    """Print the rank-1 of each part alone: rows the parts (0 = top), columns the conditions."""
    keys = rank1_keys(list(per_part[0]))
    table = Table(
        title="each part alone (0 = top strip), rank-1 (%)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("part", style="bold", justify="right")
    for key in keys:
        table.add_column(key, justify="right")
    for part, metrics in enumerate(per_part):
        table.add_row(str(part), *(percent(metrics.get(key, math.nan)) for key in keys))
    console.print(table)


def plot_view_heatmaps(matrices: Mapping[str, ViewMatrix], path: Path) -> Path:
    """Save one annotated probe view x gallery view rank-1 heatmap per condition as a PNG.

    Drawn on a standalone :class:`~matplotlib.figure.Figure` (Agg canvas): no pyplot state.
    """
    count = max(1, len(matrices))
    figure = Figure(figsize=(5.2 * count, 4.8))
    axes = figure.subplots(1, count, squeeze=False)
    for axis, (condition, matrix) in zip(axes[0], matrices.items(), strict=False):
        image = axis.imshow(matrix.rank1, vmin=0.0, vmax=100.0, cmap="viridis")
        ticks = range(len(matrix.views))
        axis.set_xticks(ticks, matrix.views, rotation=90, fontsize=7)
        axis.set_yticks(ticks, matrix.views, fontsize=7)
        axis.set_xlabel("gallery view")
        axis.set_ylabel("probe view")
        axis.set_title(f"{condition} rank-1 (%)")
        for (row, col), value in np.ndenumerate(matrix.rank1):
            color = "black" if not math.isnan(value) and value > 60 else "white"
            axis.text(col, row, percent(value), ha="center", va="center", fontsize=5, color=color)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    figure.tight_layout()
    with report_file(path, "wb") as file:
        figure.savefig(file, format="png", dpi=150)
    return path


def write_report(
    evaluation: Evaluation, out_dir: Path, console: Console, title: str
) -> dict[str, Path]:
    """Print the tables and write the report files into ``out_dir`` (module docstring).

    With a per-view table: the per-view console tables, ``per_view.csv`` and, with view
    matrices, ``view_heatmaps.png``; without: the metrics as one table under ``title``. Always
    ``metrics.json``, and ``per_part.csv`` with its table when the evaluation has per-part
    metrics. Returns the paths written under the keys ``metrics``, ``per_view``, ``heatmaps``,
    ``per_part``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": write_metrics_json(evaluation.metrics, out_dir / METRICS_FILE)}
    if not evaluation.per_view:
        print_metrics_table(evaluation.metrics, console, title)
    else:
        print_per_view_tables(evaluation.per_view, evaluation.per_view_note, console)
        paths["per_view"] = write_per_view_csv(evaluation.per_view, out_dir / "per_view.csv")
    if evaluation.matrices:
        paths["heatmaps"] = plot_view_heatmaps(evaluation.matrices, out_dir / "view_heatmaps.png")
    if evaluation.per_part:
        print_per_part_table(evaluation.per_part, console)
        paths["per_part"] = write_per_part_csv(evaluation.per_part, out_dir / PER_PART_FILE)
    return paths

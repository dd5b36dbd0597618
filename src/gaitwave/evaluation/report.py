"""Evaluation reports: a console table, ``metrics.json``, a per-view CSV and view heatmaps.

Files written by :func:`write_report` into the run folder:

- ``metrics.json``: the flat metrics dict (``NM/rank1``, ``NM/rank1@000``, ``mean/rank1``, ...;
  for retrieval protocols ``rank1``, ``mAP``, ``mINP``, ...).
- ``per_view.csv`` (view protocols): long format, one row per (condition, probe view) plus a
  ``mean`` row per condition; columns ``condition, view, rank1, mAP`` in percent, identical
  views excluded from the per-view means (empty cell: no value).
- ``view_heatmaps.png`` (view protocols): one panel per condition, probe view (rows) x gallery
  view (columns) rank-1 in percent, every cell annotated.

Retrieval protocols (Gait3D, the GREW proxy) have no views: a console table and ``metrics.json``.
"""

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from rich import box
from rich.console import Console
from rich.table import Table

from gaitwave.evaluation.protocols import ViewMatrix, masked_mean, per_view_means


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _cell_2(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _per_view_rows(
    results: Mapping[str, ViewMatrix], exclude_identical_views: bool
) -> list[tuple[str, str, float, float]]:
    """``(condition, view, rank1, mAP)`` per probe view, then ``(condition, "mean", ...)``."""
    rows = []
    for condition, matrix in results.items():
        rank1, mean_ap = per_view_means(matrix, exclude_identical_views)
        rows += [
            (condition, view, float(r), float(m))
            for view, r, m in zip(matrix.views, rank1, mean_ap, strict=True)
        ]
        rows.append((condition, "mean", float(masked_mean(rank1)), float(masked_mean(mean_ap))))
    return rows


def print_view_tables(
    results: Mapping[str, ViewMatrix],
    console: Console | None = None,
    exclude_identical_views: bool = True,
) -> None:
    """Print rank-1 and mAP tables: rows the conditions, columns the probe views and the mean."""
    console = console or Console()
    if not results:
        console.print("[yellow]No evaluation results to show.[/yellow]")
        return
    rows = _per_view_rows(results, exclude_identical_views)
    views = [view for view in next(iter(results.values())).views] + ["mean"]
    for metric, column in (("rank-1", 2), ("mAP", 3)):
        note = "identical views excluded" if exclude_identical_views else "all gallery views"
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
        for condition in results:
            values = {row[1]: row[column] for row in rows if row[0] == condition}
            table.add_row(condition, *(_cell(values.get(view, math.nan)) for view in views))
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
        table.add_row(key, str(value) if isinstance(value, int) else _cell_2(value))
    console.print(table)


def write_metrics_json(metrics: Mapping[str, float], path: Path) -> Path:
    """Write the flat metrics dict as JSON (non-finite values become ``null``)."""
    clean = {
        key: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for key, v in metrics.items()
    }
    path.write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n")
    return path


def write_per_view_csv(
    results: Mapping[str, ViewMatrix], path: Path, exclude_identical_views: bool = True
) -> Path:
    """Write ``condition, view, rank1, mAP`` rows (long format; module docstring)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["condition", "view", "rank1", "mAP"])
        for condition, view, rank1, mean_ap in _per_view_rows(results, exclude_identical_views):
            writer.writerow(
                [condition, view] + ["" if math.isnan(v) else f"{v:.4f}" for v in (rank1, mean_ap)]
            )
    return path


def plot_view_heatmaps(results: Mapping[str, ViewMatrix], path: Path) -> Path:
    """Save one annotated probe view x gallery view rank-1 heatmap per condition as a PNG.

    Drawn on a standalone :class:`~matplotlib.figure.Figure` (Agg canvas): no pyplot state.
    """
    count = max(1, len(results))
    figure = Figure(figsize=(5.2 * count, 4.8))
    axes = figure.subplots(1, count, squeeze=False)
    for axis, (condition, matrix) in zip(axes[0], results.items(), strict=False):
        image = axis.imshow(matrix.rank1, vmin=0.0, vmax=100.0, cmap="viridis")
        ticks = range(len(matrix.views))
        axis.set_xticks(ticks, matrix.views, rotation=90, fontsize=7)
        axis.set_yticks(ticks, matrix.views, fontsize=7)
        axis.set_xlabel("gallery view")
        axis.set_ylabel("probe view")
        axis.set_title(f"{condition} rank-1 (%)")
        for (row, col), value in np.ndenumerate(matrix.rank1):
            color = "black" if not math.isnan(value) and value > 60 else "white"
            axis.text(col, row, _cell(value), ha="center", va="center", fontsize=5, color=color)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    return path


def write_report(
    results: Mapping[str, ViewMatrix] | None,
    metrics: Mapping[str, float],
    out_dir: Path,
    console: Console | None = None,
    exclude_identical_views: bool = True,
    title: str = "retrieval metrics (%)",
) -> dict[str, Path]:
    """Print the tables and write the report files into ``out_dir``.

    View protocols: ``results`` from ``view_matrices``, ``metrics`` from
    ``summarize_view_matrices``; writes ``metrics.json``, ``per_view.csv`` and
    ``view_heatmaps.png`` (keys ``metrics``, ``per_view``, ``heatmaps`` of the returned paths).
    Retrieval protocols: ``results`` is None; prints ``metrics`` as one table under ``title``
    and writes ``metrics.json`` only (key ``metrics``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if results is None:
        print_metrics_table(metrics, console, title)
        return {"metrics": write_metrics_json(metrics, out_dir / "metrics.json")}
    print_view_tables(results, console, exclude_identical_views)
    return {
        "metrics": write_metrics_json(metrics, out_dir / "metrics.json"),
        "per_view": write_per_view_csv(results, out_dir / "per_view.csv", exclude_identical_views),
        "heatmaps": plot_view_heatmaps(results, out_dir / "view_heatmaps.png"),
    }

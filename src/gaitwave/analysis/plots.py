"""The ablation report's figures: grouped bars (rows x metrics, std error bars) and, for an
exponent-range ablation, a heatmap of the headline metric over l_min x l_max (``report.png``);
mean omega and F per part, one line per row (``part_weights.png``); the rank-1 of each part
alone, one panel per condition and one line per row (``part_metrics.png``).

Drawn on a standalone :class:`~matplotlib.figure.Figure` (Agg canvas): no pyplot state. Saved
atomically (``gaitwave.report_file``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gaitwave.analysis.part_metrics import PartMetrics
from gaitwave.evaluation.report import rank1_keys
from gaitwave.report_file import report_file


@dataclass(frozen=True)
class LGrid:
    """Mean ``metric`` per exponent range: ``values[i, j]`` for ``(l_mins[i], l_maxs[j])``,
    NaN where no completed run exists (missing or invalid pair)."""

    l_mins: list[float]
    l_maxs: list[float]
    values: np.ndarray  # [len(l_mins), len(l_maxs)] float64, percent
    metric: str


def _bars(axis: Axes, labels: Sequence[str], metrics: Sequence[str], means, stds) -> None:
    width = 0.8 / max(1, len(labels))
    positions = np.arange(len(metrics), dtype=float)
    for i, label in enumerate(labels):
        offset = (i - (len(labels) - 1) / 2) * width
        axis.bar(positions + offset, means[i], width, yerr=stds[i], capsize=2, label=label)
    axis.set_xticks(positions, metrics, fontsize=8)
    axis.set_ylabel("test metric (%)")
    axis.set_title("mean ± std over seeds")
    if labels:
        axis.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(3, len(labels))
        )


def _heatmap(figure: Figure, axis: Axes, grid: LGrid) -> None:
    image = axis.imshow(np.ma.masked_invalid(grid.values), cmap="viridis")
    axis.set_xticks(range(len(grid.l_maxs)), [f"{v:g}" for v in grid.l_maxs])
    axis.set_yticks(range(len(grid.l_mins)), [f"{v:g}" for v in grid.l_mins])
    axis.set_xlabel("l_max")
    axis.set_ylabel("l_min")
    axis.set_title(f"{grid.metric} (%), mean over seeds")
    finite = grid.values[np.isfinite(grid.values)]
    middle = float(finite.mean()) if finite.size else 0.0
    for (row, col), value in np.ndenumerate(grid.values):
        if not math.isnan(value):
            color = "black" if value > middle else "white"
            axis.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=8, color=color)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)


def plot_report(
    labels: Sequence[str],
    metrics: Sequence[str],
    means: np.ndarray,
    stds: np.ndarray,
    grid: LGrid | None,
    path: Path,
) -> Path:
    """Save the bars (``means``, ``stds``: ``[rows, metrics]`` percent, NaN mean: no bar) and,
    with ``grid``, the l_min x l_max heatmap beside them, as a PNG at ``path``."""
    bars_width = min(16.0, max(6.0, 2.0 + 0.3 * len(metrics) * len(labels)))
    widths = [bars_width] if grid is None else [bars_width, 5.5]
    figure = Figure(figsize=(sum(widths), 4.8))
    axes = figure.subplots(1, len(widths), squeeze=False, width_ratios=widths)[0]
    _bars(axes[0], labels, metrics, means, stds)
    if grid is not None:
        _heatmap(figure, axes[1], grid)
    with report_file(path, "wb") as file:
        figure.savefig(file, format="png", dpi=150, bbox_inches="tight")
    return path


def plot_part_weights(
    terms: dict[str, list[tuple[str, np.ndarray, np.ndarray]]], path: Path
) -> Path:
    """Save, per loss term (``terms``: term -> ``(row label, mean omega [P], mean F [P])`` per
    row), the mean omega per part (left) and mean part loss F (right), one line per row, x the
    part index (0 = top strip of the silhouette), as a PNG at ``path``."""
    figure = Figure(figsize=(11.0, 3.2 * len(terms)), layout="constrained")
    axes = figure.subplots(len(terms), 2, squeeze=False)
    for (omega_axis, loss_axis), (term, rows) in zip(axes, terms.items(), strict=True):
        for label, omega, loss in rows:
            omega_axis.plot(np.arange(len(omega)), omega, marker="o", markersize=3, label=label)
            loss_axis.plot(np.arange(len(loss)), loss, marker="o", markersize=3, label=label)
        omega_axis.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        omega_axis.set_title(f"{term}: mean omega per part over training")
        omega_axis.set_ylabel("omega")
        loss_axis.set_title(f"{term}: mean part loss F over training")
        loss_axis.set_ylabel("F")
        parts = max(len(omega) for _, omega, _ in rows)
        for axis in (omega_axis, loss_axis):
            axis.set_xticks(range(parts))
            axis.tick_params(axis="x", labelsize=7)
            axis.set_xlabel(f"part (0 = top, {parts - 1} = bottom)")
        omega_axis.legend(fontsize=7)
    with report_file(path, "wb") as file:
        figure.savefig(file, format="png", dpi=130)
    return path


def plot_part_metrics(rows: Sequence[PartMetrics], path: Path) -> Path:
    """Save the rank-1 keys of each part alone (mean over seeds, std as error bars), one panel
    per key (condition) and one line per row, x the part index (0 = top strip), as a PNG."""
    keys = rank1_keys(list(dict.fromkeys(key for m in rows for key in m.keys)))
    figure = Figure(figsize=(4.0 * len(keys), 3.4), layout="constrained")
    axes = figure.subplots(1, len(keys), squeeze=False, sharey=True)[0]
    for axis, key in zip(axes, keys, strict=True):
        for metrics in (m for m in rows if key in m.keys):
            column = metrics.keys.index(key)
            parts = np.arange(metrics.mean.shape[0])
            std = np.nan_to_num(metrics.std[:, column])
            axis.errorbar(
                parts,
                metrics.mean[:, column],
                yerr=std,
                marker="o",
                markersize=3,
                capsize=2,
                label=metrics.row,
            )
        axis.set_title(f"{key}, each part alone")
        axis.set_xlabel("part (0 = top strip)")
        axis.tick_params(axis="x", labelsize=7)
    axes[0].set_ylabel("test metric (%)")
    axes[0].legend(fontsize=7)
    with report_file(path, "wb") as file:
        figure.savefig(file, format="png", dpi=130)
    return path

"""The ablation report as text and files: the tables of an
:class:`~gaitwave.analysis.ablation.AblationReport` in Markdown (``report.md``), CSV
(``report.csv``, ``part_weights.csv``, ``part_metrics.csv``) and on the console (rich tables),
the one-line statements against the baseline, and :func:`write_report`, which prints them and
writes every file (with the figures of :mod:`gaitwave.analysis.plots`).

Cells: ``mean ± std`` over seeds (``mean`` alone for one run, ``-`` for none), ``(n=k)`` where k
differs from the row's completed jobs; paired differences signed, ``+0.80 [-0.40, +2.00]``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from gaitwave.analysis.ablation import AblationReport, Row
from gaitwave.analysis.part_metrics import PartMetrics, paired_parts
from gaitwave.analysis.plots import LGrid, plot_part_metrics, plot_part_weights, plot_report
from gaitwave.analysis.stats import PairedDifference, Summary
from gaitwave.analysis.weights import TILT_THRESHOLD, TermWeights
from gaitwave.evaluation.report import rank1_keys
from gaitwave.report_file import report_file

REPORT_CSV_COLUMNS = (
    "row", "metric", "mean", "std", "n", "baseline", "diff_mean", "ci_low", "ci_high", "n_pairs",
    "verdict",
)  # fmt: skip
PART_WEIGHTS_CSV_COLUMNS = ("row", "term", "part", "mean_omega", "mean_F", "n_jobs")
PART_METRICS_CSV_COLUMNS = (
    "row", "metric", "part", "mean", "std", "n_jobs", "baseline", "diff_mean", "ci_low", "ci_high",
    "n_pairs", "verdict",
)  # fmt: skip
PART_WEIGHTS_HEADER = [
    "row", "median ratio", "max ratio", f"steps > {TILT_THRESHOLD:g}", "most favoured parts",
    "least favoured parts",
]  # fmt: skip
NO_PART_WEIGHT_LOGS = (
    "No fusion_weights.csv in any completed job (runs older than the fusion diagnostics "
    "callback, or trained with callbacks.fusion_diagnostics=null)."
)

# ---- cells ----------------------------------------------------------------------------------


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _interval(diff: PairedDifference) -> str:
    """``-0.40..+2.00``, ``-`` without an interval (fewer than two pairs)."""
    if diff.low is None or diff.high is None:
        return "-"
    return f"{_signed(diff.low)}..{_signed(diff.high)}"


def _mean_std(summary: Summary, digits: int, scale: float = 1.0) -> str:
    """``mean ± std`` of ``summary`` times ``scale`` with ``digits`` decimals, ``mean`` alone
    without a std."""
    text = f"{scale * summary.mean:.{digits}f}"
    return text if summary.std is None else f"{text} ± {scale * summary.std:.{digits}f}"


def summary_cell(summary: Summary | None, row_n: int) -> str:
    """``69.70 ± 0.50``, ``69.70`` for one run, ``-`` for none; ``(n=k)`` when k differs from
    the row's n."""
    if summary is None:
        return "-"
    text = _mean_std(summary, digits=2)
    return text if summary.n == row_n else f"{text} (n={summary.n})"


def paired_cell(diff: PairedDifference, row_pairs: int) -> str:
    """``+0.80 [-0.40, +2.00]`` (difference [95 % CI]), ``+0.80`` for one pair, ``-`` for none."""
    if diff.mean is None:
        return "-"
    text = _signed(diff.mean)
    if diff.low is not None and diff.high is not None:
        text += f" [{_signed(diff.low)}, {_signed(diff.high)}]"
    return text if diff.n == row_pairs else f"{text} (n={diff.n})"


def statement(row: str, baseline: str, metric: str, diff: PairedDifference) -> str:
    """``norm vs post: mean/rank1 +0.80 (95 % CI -0.40..+2.00, n=5 pairs): within seed noise``."""
    head = f"{row} vs {baseline}: {metric}"
    if diff.mean is None:
        return f"{head}: {diff.verdict}"
    pairs = f"n={diff.n} pair" + ("s" if diff.n != 1 else "")
    if diff.low is None or diff.high is None:
        return f"{head} {_signed(diff.mean)} ({pairs}): {diff.verdict}"
    return f"{head} {_signed(diff.mean)} (95 % CI {_interval(diff)}, {pairs}): {diff.verdict}"


def _seeds(row: Row) -> str:
    return ",".join(map(str, sorted(row.seeds))) or "-"


def _parts_cell(weights: TermWeights, most: bool) -> str:
    if weights.uniform:
        return "all equal"
    return ", ".join(map(str, weights.favoured(most)))


# ---- tables: header and body ----------------------------------------------------------------


def _compares(report: AblationReport) -> bool:
    """Whether there are paired differences to show: a baseline and another row."""
    return report.baseline is not None and len(report.rows) > 1


def summary_table(report: AblationReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the mean ± std table."""
    header = ["row", "n", "seeds", *report.metrics]
    body = []
    for row in report.rows:
        n = len(row.completed)
        cells = [summary_cell(report.summaries[(row.label, m)], n) for m in report.metrics]
        body.append([row.label, str(n), _seeds(row), *cells])
    return header, body


def paired_table(report: AblationReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paired-difference table (empty without a baseline)."""
    header = ["row", "pairs", *report.metrics]
    body = []
    for row in report.rows:
        if report.baseline is None or row is report.baseline:
            continue
        diffs = [report.paired[(row.label, m)] for m in report.metrics]
        pairs = report.paired[(row.label, report.headline)].n
        body.append([row.label, str(pairs), *(paired_cell(d, pairs) for d in diffs)])
    return header, body


def paired_long_table(report: AblationReport) -> tuple[list[str], list[list[str]]]:
    """The paired differences one line per row and metric, with the verdict (the console's)."""
    header = ["row", "metric", "difference", "95 % CI", "pairs", "verdict"]
    body = []
    for (label, metric), diff in report.paired.items():
        mean = "-" if diff.mean is None else _signed(diff.mean)
        body.append([label, metric, mean, _interval(diff), str(diff.n), diff.verdict])
    return header, body


def statements(report: AblationReport) -> list[str]:
    """One sentence per non-baseline row on the headline metric."""
    if report.baseline is None:
        return []
    return [
        statement(row.label, report.baseline.label, report.headline, diff)
        for row in report.rows
        if (diff := report.paired.get((row.label, report.headline))) is not None
    ]


def problem_table(report: AblationReport) -> tuple[list[str], list[list[str]]]:
    header = ["folder", "row", "seed", "status", "error"]
    body = [
        [str(p.folder), p.row, "-" if p.seed is None else str(p.seed), p.status, p.error or "-"]
        for p in report.problems
    ]
    return header, body


def _by_term(part_weights: Iterable[TermWeights]) -> dict[str, list[TermWeights]]:
    """Term -> its rows' weights, terms and rows in order of appearance."""
    terms: dict[str, list[TermWeights]] = {}
    for weights in part_weights:
        terms.setdefault(weights.term, []).append(weights)
    return terms


def part_weight_tables(report: AblationReport) -> dict[str, list[list[str]]]:
    """Per loss term, the body of its part-weights table (header :data:`PART_WEIGHTS_HEADER`);
    the median ratio cell gets ``(n=k)`` where fewer than the row's completed jobs have a log."""
    row_jobs = {row.label: len(row.completed) for row in report.rows}
    tables: dict[str, list[list[str]]] = {}
    for term, term_weights in _by_term(report.part_weights).items():
        tables[term] = []
        for w in term_weights:
            median = _mean_std(w.median_ratio, digits=3)
            if w.n_jobs != row_jobs.get(w.row, w.n_jobs):
                median += f" (n={w.n_jobs})"
            tilted = _mean_std(w.tilted, digits=0, scale=100.0) + " %"
            cells = [w.row, median, _mean_std(w.max_ratio, digits=3), tilted]
            tables[term].append([*cells, _parts_cell(w, most=True), _parts_cell(w, most=False)])
    return tables


# ---- Markdown -------------------------------------------------------------------------------


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, body)]


def l_grid_markdown(grid: LGrid) -> list[str]:
    """The l_min x l_max section of ``report.md``: the grid's mean per range."""
    header = ["l_min \\ l_max", *(f"{v:g}" for v in grid.l_maxs)]
    body = [
        [f"{l_min:g}", *("" if math.isnan(v) else f"{v:.2f}" for v in values)]
        for l_min, values in zip(grid.l_mins, grid.values, strict=True)
    ]
    return [
        f"## {grid.metric} (%) by l_min (rows) and l_max (columns)",
        "",
        *_markdown_table(header, body),
        "",
        "Empty cell: no completed run with that range (also shown in report.png).",
    ]


def part_weights_markdown(report: AblationReport) -> list[str]:
    """The part-weights section of ``report.md``: one table per loss term."""
    lines = ["## Part weights omega of the fusion, over training", ""]
    if not report.part_weights:
        return [*lines, NO_PART_WEIGHT_LOGS]
    threshold = f"{TILT_THRESHOLD:g}"
    lines += [
        "omega = 1 for every part under post- and pre-fusion; norm-fusion tilts it towards "
        "high-loss parts (l > 0) or low-loss parts (l < 0).",
        "",
        "From the completed jobs' fusion_weights.csv. Ratio: max / min of omega over the parts "
        "at a logged step; its median and maximum over training, mean ± std over seeds. "
        f"Steps > {threshold}: share of logged steps with a ratio above {threshold}. Parts "
        "(0 = top strip of the silhouette) ranked by mean omega over training; mean omega and "
        "part loss F per part in part_weights.csv and part_weights.png.",
    ]
    for term, body in part_weight_tables(report).items():
        lines += ["", f"### {term}", "", *_markdown_table(PART_WEIGHTS_HEADER, body)]
    return lines


def part_metrics_table(report: AblationReport) -> tuple[list[str], list[list[str]]]:
    """Header and body of the each-part-alone table: a line per row and rank-1 key, a column
    per part (mean over the row's jobs with per_part.csv)."""
    parts = max(m.mean.shape[0] for m in report.part_metrics)
    header = ["row", "metric", "n", *map(str, range(parts))]
    body = [
        [m.row, key, str(m.n_jobs), *(f"{v:.1f}" for v in m.mean[:, m.keys.index(key)])]
        for m in report.part_metrics
        for key in rank1_keys(m.keys)
    ]
    return header, body


def _part_baseline(report: AblationReport) -> PartMetrics | None:
    """The baseline row's per-part metrics, if it has any."""
    label = report.baseline.label if report.baseline is not None else None
    return next((m for m in report.part_metrics if m.row == label), None)


def part_paired_table(report: AblationReport) -> tuple[list[str], list[list[str]]] | None:
    """The headline metric of each part against the baseline's, paired by seed: a line per
    other row, a column per part; None when the baseline has no per-part metrics."""
    base = _part_baseline(report)
    if base is None:
        return None
    parts = base.mean.shape[0]
    header = ["row", *map(str, range(parts))]
    body = []
    for metrics in report.part_metrics:
        if metrics is not base:
            diffs = paired_parts(metrics, base, report.headline)
            pairs = max(diff.n for diff in diffs)
            body.append([metrics.row, *(paired_cell(diff, pairs) for diff in diffs)])
    return header, body


def part_metrics_markdown(report: AblationReport) -> list[str]:
    """The each-part-alone section of ``report.md`` (only when jobs have per_part.csv)."""
    lines = [
        "## Each part alone: test metrics (%) of every strip evaluated on its own",
        "",
        "From the completed jobs' per_part.csv (eval.per_part=true): sequences compared by the "
        "embedding of one horizontal part (0 = top strip of the silhouette) instead of all "
        "parts; mean over seeds, n jobs. Every metric with its std and its paired difference "
        "against the baseline in part_metrics.csv; part_metrics.png.",
        "",
        *_markdown_table(*part_metrics_table(report)),
    ]
    paired = part_paired_table(report)
    if paired is not None and paired[1]:
        lines += [
            "",
            f"{report.headline} of each part against the baseline "
            f"'{report.baseline.label}', paired by seed: mean of (row - baseline) "
            "[95 % Student t interval].",
            "",
            *_markdown_table(*paired),
        ]
    return lines


def to_markdown(report: AblationReport) -> str:
    """``report.md``: the tables, the baseline statements and the jobs left out."""
    completed = sum(len(row.completed) for row in report.rows)
    lines = [
        "# Ablation report",
        "",
        f"Runs from {', '.join(f'`{d}`' for d in report.dirs)}: {report.num_jobs} jobs, "
        f"{completed} completed, in {len(report.rows)} rows.",
    ]
    if report.common_overrides:
        shared = " ".join(report.common_overrides)
        lines.append(f"Every row also has the overrides `{shared}`.")
    lines += ["", "## Test metrics (%), mean ± std over seeds", ""]
    lines += _markdown_table(*summary_table(report))
    lines += [
        "",
        "n: completed runs; std: sample standard deviation (ddof = 1), none for a single run.",
        "",
        "## Against the baseline, paired by seed",
        "",
        report.baseline_note[0].upper() + report.baseline_note[1:] + ".",
    ]
    if _compares(report):
        lines += [
            "Cells: mean of (row - baseline) over the seeds both ran [95 % Student t interval].",
            "",
            *_markdown_table(*paired_table(report)),
            "",
            *(f"- {sentence}" for sentence in statements(report)),
        ]
    if report.l_grid is not None:
        lines += ["", *l_grid_markdown(report.l_grid)]
    lines += ["", *part_weights_markdown(report)]
    if report.part_metrics:
        lines += ["", *part_metrics_markdown(report)]
    if report.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in report.notes)]
    lines += ["", "## Jobs failed, unfinished or incomplete", ""]
    if report.problems:
        lines += _markdown_table(*problem_table(report))
        lines += ["", "running or unknown: unfinished (still running, or killed)."]
    else:
        lines.append("None: every job completed with every metric.")
    return "\n".join(lines) + "\n"


# ---- CSV ------------------------------------------------------------------------------------


def _csv_text(header: Sequence[str], lines: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def to_csv(report: AblationReport) -> str:
    """``report.csv``: one line per row and metric, paired columns empty for the baseline."""
    base = report.baseline.label if report.baseline is not None else ""
    lines = []
    for row in report.rows:
        for m in report.metrics:
            summary = report.summaries[(row.label, m)]
            cells = [row.label, m]
            if summary is None:
                cells += ["", "", "0"]
            else:
                cells += [_number(summary.mean), _number(summary.std), str(summary.n)]
            diff = report.paired.get((row.label, m))
            if diff is None:
                cells += [base, "", "", "", "", "baseline" if row is report.baseline else ""]
            else:
                cells += [base, _number(diff.mean), _number(diff.low), _number(diff.high)]
                cells += [str(diff.n), diff.verdict]
            lines.append(cells)
    return _csv_text(REPORT_CSV_COLUMNS, lines)


def part_weights_csv(part_weights: Sequence[TermWeights]) -> str:
    """``part_weights.csv``: one line per row, term and part."""
    lines = [
        [w.row, w.term, part, _number(omega), _number(loss), w.n_jobs]
        for w in part_weights
        for part, (omega, loss) in enumerate(zip(w.mean_omega, w.mean_F, strict=True))
    ]
    return _csv_text(PART_WEIGHTS_CSV_COLUMNS, lines)


def part_metrics_csv(report: AblationReport) -> str:
    """``part_metrics.csv``: one line per row, metric key and part; the paired columns against
    the baseline row empty for the baseline itself and where no seed pairs."""
    base = _part_baseline(report)
    lines = []
    for m in report.part_metrics:
        for k, key in enumerate(m.keys):
            diffs = paired_parts(m, base, key) if base is not None and m is not base else None
            for part in range(m.mean.shape[0]):
                cells = [m.row, key, part, _number(m.mean[part, k]), _std_number(m.std[part, k])]
                cells += [m.n_jobs, base.row if base is not None else ""]
                diff = diffs[part] if diffs is not None else None
                if diff is None or diff.mean is None:
                    cells += ["", "", "", "", "baseline" if m is base else ""]
                else:
                    cells += [_number(diff.mean), _number(diff.low), _number(diff.high)]
                    cells += [diff.n, diff.verdict]
                lines.append(cells)
    return _csv_text(PART_METRICS_CSV_COLUMNS, lines)


def _std_number(value: float) -> str:
    return "" if math.isnan(value) else _number(value)


# ---- console and files ----------------------------------------------------------------------


def _rich_table(title: str, header: list[str], body: list[list[str]]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    widest = max(len(cells[0]) for cells in [header, *body])
    table.add_column(header[0], style="bold", overflow="fold", min_width=min(widest, 12))
    for name in header[1:]:
        table.add_column(name, justify="right", overflow="fold")
    for cells in body:
        table.add_row(*cells)
    return table


def print_report(report: AblationReport, console: Console | None = None) -> None:
    """The tables, statements and problem jobs on the console."""
    console = console or Console()
    if report.common_overrides:
        console.print(f"Every row also has: {' '.join(report.common_overrides)}", markup=False)
    console.print(_rich_table("test metrics (%), mean ± std over seeds", *summary_table(report)))
    console.print(report.baseline_note, markup=False)
    if _compares(report):
        title = f"paired differences vs {report.baseline.label} (row - baseline, by seed)"
        console.print(_rich_table(title, *paired_long_table(report)))
        for sentence in statements(report):
            console.print(sentence, markup=False)
    for term, body in part_weight_tables(report).items():
        title = f"{term}: part weights omega over training, max/min ratio"
        console.print(_rich_table(title, PART_WEIGHTS_HEADER, body))
    if report.part_metrics:
        title = "each part alone (0 = top strip): test rank-1 (%), mean over seeds"
        console.print(_rich_table(title, *part_metrics_table(report)))
    for note in report.notes:
        console.print(f"Note: {note}", markup=False)
    if report.problems:
        title = f"{len(report.problems)} job(s) failed, unfinished or incomplete"
        console.print(_rich_table(title, *problem_table(report)))


def _bar_values(report: AblationReport) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The labels of the rows with results and their means and stds ``[rows, metrics]``
    (percent; NaN mean: no bar, std 0 for a single run)."""
    drawn = [row for row in report.rows if row.completed]
    shape = (len(drawn), len(report.metrics))
    means, stds = np.full(shape, np.nan), np.zeros(shape)
    for i, row in enumerate(drawn):
        for j, metric in enumerate(report.metrics):
            summary = report.summaries[(row.label, metric)]
            if summary is not None:
                means[i, j], stds[i, j] = summary.mean, summary.std or 0.0
    return [row.label for row in drawn], means, stds


def write_report(
    report: AblationReport, out_dir: Path, console: Console | None = None
) -> dict[str, Path]:
    """Print the report and write ``report.md``, ``report.csv`` and ``report.png`` into
    ``out_dir``, ``part_weights.csv`` and ``part_weights.png`` when jobs logged fusion weights,
    ``part_metrics.csv`` and ``part_metrics.png`` when jobs have per_part.csv; returns their
    paths (keys ``markdown``, ``csv``, ``png``, ``part_weights_csv``, ``part_weights_png``,
    ``part_metrics_csv``, ``part_metrics_png``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print_report(report, console)
    paths = {"markdown": out_dir / "report.md", "csv": out_dir / "report.csv"}
    with report_file(paths["markdown"]) as file:
        file.write(to_markdown(report))
    with report_file(paths["csv"]) as file:
        file.write(to_csv(report))
    labels, means, stds = _bar_values(report)
    paths["png"] = plot_report(
        labels, report.metrics, means, stds, report.l_grid, out_dir / "report.png"
    )
    if report.part_weights:
        paths["part_weights_csv"] = out_dir / "part_weights.csv"
        with report_file(paths["part_weights_csv"]) as file:
            file.write(part_weights_csv(report.part_weights))
        lines = {
            term: [(w.row, w.mean_omega, w.mean_F) for w in term_weights]
            for term, term_weights in _by_term(report.part_weights).items()
        }
        paths["part_weights_png"] = plot_part_weights(lines, out_dir / "part_weights.png")
    if report.part_metrics:
        paths["part_metrics_csv"] = out_dir / "part_metrics.csv"
        with report_file(paths["part_metrics_csv"]) as file:
            file.write(part_metrics_csv(report))
        paths["part_metrics_png"] = plot_part_metrics(
            report.part_metrics, out_dir / "part_metrics.png"
        )
    return paths

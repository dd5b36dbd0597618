"""gaitwave-report: paper-style ablation tables from training run folders.

    gaitwave-report outputs/train/multiruns/2026-11-30_10-00-00
    gaitwave-report outputs/train/multiruns --baseline static_0 --out reports/table4
    gaitwave-report RUN_A RUN_B --metrics NM/mAP,BG/mAP,CL/mAP,mean/mAP

Each DIR is a run folder, a multirun folder or a parent of several; every run folder under them
is read (``status.json``, ``metrics.json``, ``.hydra/overrides.yaml``, ``config.yaml``). Jobs
that differ only in ``seed`` (or ``paths.*`` / ``hydra.*`` overrides) form one row, labelled by
the config's ``row``, else by their overrides. Printed and written to ``--out`` (default
``<first DIR>/report/``):

- ``report.md``: mean ± std (ddof = 1) and n per row of the headline metrics (view protocols:
  NM, BG, CL and mean rank-1; retrieval protocols: rank-1/5/10, mAP, mINP), the paired
  differences against the baseline row (``--baseline``, else the row the ablation declares,
  else the ``post`` / ``fusion=post`` row) with 95 % Student t intervals and a verdict (within
  or beyond seed noise), and every failed, unfinished or incomplete job.
- ``report.csv``: one line per row and metric (mean, std, n, paired difference, interval).
- ``report.png``: grouped bars with std error bars; for an l_min x l_max ablation, a heatmap.
- part weights, from the jobs' ``fusion_weights.csv``: a section of ``report.md`` with, per loss
  term and row, the omega max/min ratio over training and the most and least favoured parts;
  ``part_weights.csv`` (mean omega and F per row, term and part) and ``part_weights.png``.
- each part alone, from the jobs' ``per_part.csv`` (evaluated with ``eval.per_part=true``): a
  section of ``report.md`` with the rank-1 of every part per row and condition, and the
  headline metric of every part against the baseline row, paired by seed with 95 % intervals;
  ``part_metrics.csv`` (mean, std, n and the paired difference per row, metric and part) and
  ``part_metrics.png``.

Exit status 0 when the report is written (failed jobs are listed, not fatal); 1 with a message
when no run folder is found, a metric or baseline names nothing, or a report file cannot be
written (a full disk: the file named, its previous version kept).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from gaitwave.analysis.ablation import build_report
from gaitwave.analysis.runs import ReportError
from gaitwave.analysis.tables import write_report

REPORT_SUBFOLDER = "report"
CONSOLE_WIDTH = 160


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gaitwave-report",
        description="Paper-style ablation tables (mean ± std over seeds, paired differences "
        "against a baseline row) from gaitwave-train run and multirun folders.",
        epilog="Example: gaitwave-report outputs/train/multiruns/2026-11-30_10-00-00",
    )
    parser.add_argument(
        "dirs", nargs="+", metavar="DIR", help="run folders, multirun folders or their parents"
    )
    parser.add_argument(
        "--baseline",
        metavar="ROW",
        help="row to compare against, by label or overrides (default: the row the ablation "
        "declares, else the row labelled post or with fusion=post)",
    )
    parser.add_argument(
        "--metrics",
        metavar="KEYS",
        help="comma-separated metrics.json keys (default: the protocol's headline keys)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help=f"where report.md/.csv/.png and part_weights.csv/.png go (default: <first "
        f"DIR>/{REPORT_SUBFOLDER})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry: `gaitwave-report DIR... [--baseline ROW] [--metrics K,..] [--out DIR]`."""
    args = parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    out = Path(args.out) if args.out else Path(args.dirs[0]) / REPORT_SUBFOLDER
    console = Console()
    if not console.is_terminal:  # a log file or pipe: wide enough for the tables
        console = Console(width=CONSOLE_WIDTH)
    try:
        report = build_report(args.dirs, metrics=metrics, baseline=args.baseline)
    except ReportError as error:
        print(f"gaitwave-report: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    try:
        paths = write_report(report, out, console)
    except OSError as error:
        print(
            f"gaitwave-report: cannot write the report: {error}; the previous report files are "
            "kept. Free some space or fix the permissions, or write elsewhere with --out DIR",
            file=sys.stderr,
        )
        raise SystemExit(1) from error
    console.print(f"Report written: {', '.join(str(p) for p in paths.values())}", markup=False)


if __name__ == "__main__":
    main()

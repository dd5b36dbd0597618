"""gaitwave-report end to end: report.md, report.csv, report.png, console output, exit codes."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread
from rich.console import Console

from gaitwave.analysis.ablation import build_report
from gaitwave.analysis.tables import to_markdown, write_report
from gaitwave.report import main

SENTENCE_NORM = (
    "norm vs post: mean/rank1 +2.00 (95 % CI -0.48..+4.48, n=3 pairs): within seed noise"
)
SENTENCE_PRE = "pre vs post: mean/rank1 -2.33 (95 % CI -3.77..-0.90, n=3 pairs): exceeds seed noise"


def read_csv(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as handle:
        return {(line["row"], line["metric"]): line for line in csv.DictReader(handle)}


def test_cli_writes_the_report_into_dir_report(
    fusion_sweep: Path, capsys: pytest.CaptureFixture
) -> None:
    main([str(fusion_sweep)])
    out = fusion_sweep / "report"
    assert sorted(p.name for p in out.iterdir()) == ["report.csv", "report.md", "report.png"]
    printed = capsys.readouterr().out
    assert "pre vs post: mean/rank1 -2.33" in printed and "RuntimeError" in printed
    markdown = (out / "report.md").read_text()
    post = "| post | 3 | 0,1,2 | 92.00 ± 2.00 | 82.00 ± 2.00 | 42.00 ± 2.00 | 72.00 ± 2.00 |"
    norm = "| norm | 3 | 0,1,2 | 94.00 ± 2.65 | 84.00 ± 2.65 | 44.00 ± 2.65 | 74.00 ± 2.65 |"
    assert post in markdown and norm in markdown
    assert (
        "| pre | 3 | 0,1,2 | 89.67 ± 1.53 | 79.67 ± 1.53 | 39.00 ± 1.41 (n=2) | 69.67 ± 1.53 |"
        in (markdown)
    )
    assert "| norm | 3 | +2.00 [-0.48, +4.48] |" in markdown
    assert f"- {SENTENCE_NORM}" in markdown and f"- {SENTENCE_PRE}" in markdown
    for job, line in [
        ("8", "| pre | 2 | completed | metrics.json lacks CL/rank1 |"),
        ("9", "| pre | 3 | failed | RuntimeError: CUDA out of memory |"),
        ("10", "| norm | 3 | running | unfinished |"),
    ]:
        assert f"| {fusion_sweep / job} {line}" in markdown
    assert "11 jobs, 9 completed, in 3 rows" in markdown


def test_csv_has_one_line_per_row_and_metric(fusion_sweep: Path, tmp_path: Path) -> None:
    main([str(fusion_sweep), "--out", str(tmp_path / "out")])
    lines = read_csv(tmp_path / "out" / "report.csv")
    assert len(lines) == 3 * 4
    post = lines[("post", "mean/rank1")]
    assert (post["mean"], post["std"], post["n"], post["verdict"]) == (
        "72.000000",
        "2.000000",
        "3",
        "baseline",
    )
    assert post["diff_mean"] == post["ci_low"] == ""
    norm = lines[("norm", "mean/rank1")]
    assert float(norm["std"]) == pytest.approx(7**0.5, abs=1e-6)
    assert norm["baseline"] == "post"
    assert float(norm["diff_mean"]) == pytest.approx(2.0)
    assert float(norm["ci_low"]) == pytest.approx(2.0 - 4.302653 / 3**0.5, abs=1e-5)
    assert float(norm["ci_high"]) == pytest.approx(2.0 + 4.302653 / 3**0.5, abs=1e-5)
    assert (norm["n_pairs"], norm["verdict"]) == ("3", "within seed noise")
    cl = lines[("pre", "CL/rank1")]
    assert (cl["n"], cl["n_pairs"]) == ("2", "2")


def test_cli_baseline_and_metrics_options(fusion_sweep: Path, tmp_path: Path) -> None:
    main([str(fusion_sweep), "--baseline", "norm", "--metrics", "NM/mAP, mean/mAP"])
    lines = read_csv(fusion_sweep / "report" / "report.csv")
    assert {metric for _, metric in lines} == {"NM/mAP", "mean/mAP"}
    post = lines[("post", "mean/mAP")]
    assert (post["baseline"], float(post["diff_mean"])) == ("norm", pytest.approx(-2.0))
    markdown = (fusion_sweep / "report" / "report.md").read_text()
    assert "post vs norm: mean/mAP -2.00 (95 % CI -4.48..+0.48, n=3 pairs)" in markdown


def test_console_output(fusion_sweep: Path, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    write_report(build_report([fusion_sweep]), tmp_path, console)
    text = console.export_text()
    assert SENTENCE_NORM in text and SENTENCE_PRE in text
    assert "3 job(s) failed, unfinished or incomplete" in text
    assert str(fusion_sweep / "10") in text


def test_no_baseline_skips_the_paired_part(tmp_path: Path, run_writer, metrics_around) -> None:
    sweep = tmp_path / "sweep"
    for num, (fusion, seed) in enumerate([("pre", 0), ("norm", 0), ("pre", 1), ("norm", 1)]):
        overrides = [f"fusion={fusion}", f"seed={seed}"]
        run_writer(sweep / str(num), overrides, seed, metrics=metrics_around(60.0 + num))
    main([str(sweep)])
    markdown = (sweep / "report" / "report.md").read_text()
    assert "No baseline: no row is labelled 'post' or has 'fusion=post'" in markdown
    assert " vs " not in markdown
    assert "None: every job completed with every metric." in markdown
    lines = read_csv(sweep / "report" / "report.csv")
    assert {line["baseline"] for line in lines.values()} == {""}


def test_retrieval_protocol_report(tmp_path: Path, run_writer) -> None:
    sweep = tmp_path / "gait3d"
    for num, (fusion, seed, rank1) in enumerate(
        [("post", 0, 50.0), ("norm", 0, 53.0), ("post", 1, 52.0), ("norm", 1, 54.0)]
    ):
        metrics = {"rank1": rank1, "rank5": rank1 + 20, "rank10": rank1 + 25, "mAP": rank1 - 10}
        metrics.update({"mINP": rank1 - 30, "num_valid": 1000, "num_skipped": 3})
        run_writer(sweep / str(num), [f"fusion={fusion}", f"seed={seed}"], seed, metrics=metrics)
    report = build_report([sweep])
    assert report.metrics == ["rank1", "rank5", "rank10", "mAP", "mINP"]
    assert [row.label for row in report.rows] == ["fusion=post", "fusion=norm"]
    diff = report.paired[("fusion=norm", "rank1")]  # differences 3 and 2
    assert diff.mean == pytest.approx(2.5)
    half = 12.706205 * 0.5**0.5 / 2**0.5
    assert (diff.low, diff.high) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))
    assert "fusion=norm vs fusion=post: rank1 +2.50" in to_markdown(report)


def test_l_grid_report_draws_the_heatmap(
    tmp_path: Path, fusion_sweep: Path, run_writer, metrics_around
) -> None:
    sweep = tmp_path / "l_grid"
    ranges = [(-1.0, 0.0), (-1.0, 1.0), (0.0, 1.0)]
    for num, (l_min, l_max) in enumerate(ranges):
        schedule = {"fusion": {"schedule": {"mode": "abs", "l_min": l_min, "l_max": l_max}}}
        run_writer(
            sweep / str(num),
            ["fusion=norm", f"fusion.schedule.l_min={l_min:g}", f"fusion.schedule.l_max={l_max:g}"],
            0,
            metrics=metrics_around(70.0 + num),
            config=schedule,
        )
    report = build_report([sweep])
    assert report.l_grid is not None  # both l_min and l_max vary
    paths = write_report(report, tmp_path / "out", Console(record=True))
    markdown = paths["markdown"].read_text()
    grid_table = (
        "| l_min \\ l_max | 0 | 1 |\n|---|---|---|\n| -1 | 70.00 | 71.00 |\n| 0 |  | 72.00 |"
    )
    assert grid_table in markdown
    with_heatmap = imread(paths["png"])
    main([str(fusion_sweep), "--out", str(tmp_path / "bars_only")])  # same rows x metrics
    bars_only = imread(tmp_path / "bars_only" / "report.png")
    assert with_heatmap.shape[1] > bars_only.shape[1] > 0  # the heatmap panel widens it


def test_single_run_folder_and_parent_of_multiruns(fusion_sweep: Path, tmp_path: Path) -> None:
    single = build_report([fusion_sweep / "0"])
    assert [(row.label, len(row.jobs)) for row in single.rows] == [("post", 1)]
    assert single.summaries[("post", "mean/rank1")].std is None
    parent = build_report([fusion_sweep.parent])
    assert parent.num_jobs == 11


def test_no_run_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "empty")])
    assert exit_info.value.code == 1
    assert "no run folder under" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing")])
    assert "is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "empty" / "report").exists()


def test_unknown_metric_or_baseline_is_an_error(
    fusion_sweep: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(fusion_sweep), "--metrics", "NM/rank1,XX/rank1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "XX/rank1" in err and "NM/mAP" in err
    with pytest.raises(SystemExit):
        main([str(fusion_sweep), "--baseline", "nope"])
    assert "the rows are: 'post', 'norm', 'pre'" in capsys.readouterr().err


def test_console_script_exit_status(fusion_sweep: Path, tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "gaitwave.report", str(fusion_sweep)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "Report written" in ok.stdout
    empty = subprocess.run(
        [sys.executable, "-m", "gaitwave.report", str(fusion_sweep / "report")],
        capture_output=True,
        text=True,
    )
    assert empty.returncode == 1
    assert "gaitwave-report: no run folder" in empty.stderr

"""The report's each-part-alone section: per_part.csv of the jobs averaged per row, written to
report.md, part_metrics.csv and part_metrics.png; absent when no job has the file; bad files
named and left out."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from gaitwave.analysis.ablation import build_report
from gaitwave.analysis.part_metrics import read_per_part
from gaitwave.analysis.tables import to_markdown, write_report

KEYS = ["NM/rank1", "NM/mAP", "CL/rank1", "mean/rank1"]


def write_per_part(folder: Path, values: np.ndarray) -> Path:
    """per_part.csv as eval.per_part writes it: ``values [P, len(KEYS)]``."""
    path = folder / "per_part.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["part", *KEYS])
        for part, line in enumerate(values):
            writer.writerow([part, *(f"{v:.4f}" for v in line)])
    return path


def part_values(shift: float, parts: int = 3) -> np.ndarray:
    return np.arange(parts * len(KEYS), dtype=float).reshape(parts, len(KEYS)) + shift


@pytest.fixture
def sweep_with_parts(fusion_sweep: Path) -> Path:
    """fusion_sweep with per_part.csv in post's three jobs (0, 2, 4: shifts 0, 2, 4) and in one
    norm job (1); pre has none."""
    for job, shift in ((0, 0.0), (2, 2.0), (4, 4.0), (1, 10.0)):
        write_per_part(fusion_sweep / str(job), part_values(shift))
    return fusion_sweep


def test_rows_average_their_jobs_per_part(sweep_with_parts: Path, tmp_path: Path) -> None:
    report = build_report([sweep_with_parts])
    by_row = {m.row: m for m in report.part_metrics}
    assert sorted(by_row) == ["norm", "post"]  # pre: no job with the file
    post = by_row["post"]
    assert post.n_jobs == 3 and post.keys == KEYS
    np.testing.assert_allclose(post.mean, part_values(2.0))
    np.testing.assert_allclose(post.std, np.full((3, len(KEYS)), 2.0))
    assert by_row["norm"].n_jobs == 1 and np.isnan(by_row["norm"].std).all()

    paths = write_report(report, tmp_path / "out", Console(width=160))
    with paths["part_metrics_csv"].open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == 2 * len(KEYS) * 3
    first = lines[0]
    assert (first["row"], first["metric"], first["part"]) == ("post", "NM/rank1", "0")
    assert float(first["mean"]) == 2.0 and float(first["std"]) == 2.0
    assert all(line["std"] == "" for line in lines if line["row"] == "norm")
    assert paths["part_metrics_png"].stat().st_size > 0

    markdown = to_markdown(report)
    assert "## Each part alone" in markdown
    # rank-1 keys only, a column per part: post's NM/rank1 is 2, 6, 10 (mean of shifts 0, 2, 4)
    assert "| post | NM/rank1 | 3 | 2.0 | 6.0 | 10.0 |" in markdown
    assert "NM/mAP" not in markdown.split("## Each part alone")[1].split("##")[0]


def test_no_per_part_files_no_section(fusion_sweep: Path, tmp_path: Path) -> None:
    report = build_report([fusion_sweep])
    assert report.part_metrics == []
    assert "Each part alone" not in to_markdown(report)
    paths = write_report(report, tmp_path / "out", Console(width=160))
    assert "part_metrics_csv" not in paths
    assert not (tmp_path / "out" / "part_metrics.csv").exists()


def test_bad_files_are_named_and_left_out(sweep_with_parts: Path) -> None:
    (sweep_with_parts / "2" / "per_part.csv").write_text("part,NM/rank1\n0,abc\n")
    write_per_part(sweep_with_parts / "4", part_values(4.0, parts=4))
    report = build_report([sweep_with_parts])
    post = next(m for m in report.part_metrics if m.row == "post")
    assert post.n_jobs == 1
    notes = " ".join(report.notes)
    assert f"{sweep_with_parts / '2' / 'per_part.csv'} line 2" in notes
    assert f"{sweep_with_parts / '4' / 'per_part.csv'}: 4 parts" in notes


@pytest.mark.parametrize(
    "text",
    ["", "view,NM/rank1\n0,1.0\n", "part,NM/rank1\n", "part,NM/rank1\n1,50.0\n"],
    ids=["empty", "no part column", "no parts", "parts not from 0"],
)
def test_read_per_part_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "per_part.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=str(path)):
        read_per_part(path)


def test_parts_against_the_baseline_are_paired_by_seed(fusion_sweep: Path, tmp_path: Path) -> None:
    # post: seeds 0, 1, 2 in jobs 0, 2, 4; norm: seeds 2, 0, 1 in jobs 1, 3, 5
    for job, shift in ((0, 0.0), (2, 2.0), (4, 4.0), (3, 1.0), (5, 4.0), (1, 10.0)):
        write_per_part(fusion_sweep / str(job), part_values(shift))
    report = build_report([fusion_sweep])  # baseline: post
    paths = write_report(report, tmp_path / "out", Console(width=160))
    with paths["part_metrics_csv"].open(newline="") as handle:
        lines = {(r["row"], r["metric"], r["part"]): r for r in csv.DictReader(handle)}
    # norm - post by seed: 1 - 0, 4 - 2, 10 - 4 = 1, 2, 6 on every part and metric
    norm = lines[("norm", "mean/rank1", "2")]
    assert norm["baseline"] == "post" and norm["n_pairs"] == "3"
    half = 4.302653 * np.sqrt(7.0) / np.sqrt(3.0)  # t_{0.975, 2} * sd / sqrt(n)
    assert float(norm["diff_mean"]) == pytest.approx(3.0)
    assert float(norm["ci_low"]) == pytest.approx(3.0 - half, abs=1e-5)
    assert float(norm["ci_high"]) == pytest.approx(3.0 + half, abs=1e-5)
    post = lines[("post", "mean/rank1", "2")]
    assert (post["diff_mean"], post["verdict"]) == ("", "baseline")

    markdown = to_markdown(report)
    assert "mean/rank1 of each part against the baseline 'post', paired by seed" in markdown
    assert (
        "| norm | +3.00 [-3.57, +9.57] | +3.00 [-3.57, +9.57] | +3.00 [-3.57, +9.57] |" in markdown
    )


def test_no_paired_parts_when_the_baseline_has_none(fusion_sweep: Path, tmp_path: Path) -> None:
    write_per_part(fusion_sweep / "1", part_values(1.0))  # norm only; the baseline is post
    report = build_report([fusion_sweep])
    assert "of each part against the baseline" not in to_markdown(report)
    paths = write_report(report, tmp_path / "out", Console(width=160))
    with paths["part_metrics_csv"].open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert lines and all(line["baseline"] == "" and line["diff_mean"] == "" for line in lines)

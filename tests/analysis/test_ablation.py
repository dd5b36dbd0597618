"""Run folders -> rows, headline keys, statistics, baseline, problem jobs and the l_grid heatmap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gaitwave.analysis.ablation import (
    build_report,
    group_overrides,
    headline_metrics,
)
from gaitwave.analysis.runs import COMPLETED, UNKNOWN, UNREADABLE, find_run_folders, read_job
from gaitwave.analysis.stats import EXCEEDS_NOISE, WITHIN_NOISE

VIEW_HEADLINE = ["NM/rank1", "BG/rank1", "CL/rank1", "mean/rank1"]
# mean/rank1 of the fusion_sweep fixture, seeds 0, 1, 2
SWEEP_MEAN_RANK1 = {
    "post": [70.0, 72.0, 74.0],
    "norm": [71.0, 75.0, 76.0],
    "pre": [68.0, 70.0, 71.0],
}
T_2 = 4.302653  # t_{0.975, 2}


def test_run_folders_are_found_in_job_number_order(fusion_sweep: Path) -> None:
    folders = find_run_folders([fusion_sweep.parent])
    assert [f.name for f in folders] == [str(n) for n in range(11)]  # 2 before 10
    assert find_run_folders([fusion_sweep, fusion_sweep / "3"]) == folders  # no duplicates


def test_read_job(fusion_sweep: Path) -> None:
    job = read_job(fusion_sweep / "1")
    assert (job.status, job.seed, job.row) == (COMPLETED, 2, "norm")
    assert job.overrides == ("fusion=norm", "seed=2", "paths.output_dir=/somewhere/1")
    assert job.metrics["mean/rank1"] == 76.0
    old = read_job(fusion_sweep / "8")  # no status.json, but metrics.json: completed
    assert old.status == COMPLETED
    (fusion_sweep / "8" / "metrics.json").unlink()
    assert read_job(fusion_sweep / "8").status == UNKNOWN
    (fusion_sweep / "0" / "metrics.json").write_text('{"mean/rank1": 7')  # killed mid-write
    broken = read_job(fusion_sweep / "0")
    assert broken.status == UNREADABLE
    assert broken.error.startswith("metrics.json unreadable: JSONDecodeError")


def test_group_overrides_drop_seed_paths_and_hydra() -> None:
    overrides = ["fusion=norm", "seed=3", "paths.output_dir=/x", "hydra/launcher=basic"]
    overrides += ["+hydra.job.chdir=true", "data.synthgait.seed=1", "fusion.truncate=false"]
    assert group_overrides(overrides) == (
        "fusion=norm",
        "data.synthgait.seed=1",
        "fusion.truncate=false",
    )


def test_headline_metrics_per_protocol(metrics_around) -> None:
    assert headline_metrics(metrics_around(70.0)) == VIEW_HEADLINE
    oumvlp = {"NM/rank1": 1.0, "NM/rank1@000": 1.0, "NM/mAP": 1.0, "mean/rank1": 1.0}
    assert headline_metrics(oumvlp) == ["NM/rank1", "mean/rank1"]
    gait3d = {
        k: 1.0 for k in ("mAP", "mINP", "num_skipped", "num_valid", "rank1", "rank10", "rank5")
    }
    assert headline_metrics(gait3d) == ["rank1", "rank5", "rank10", "mAP", "mINP"]
    grew = {
        f"unofficial_proxy/{k}": 1.0 for k in ("mAP", "mINP", "rank1", "rank10", "rank20", "rank5")
    }
    assert headline_metrics(grew) == [
        f"unofficial_proxy/{k}" for k in ("rank1", "rank5", "rank10", "mAP", "mINP")
    ]
    cross_view = {
        f"{group}/{name}": 1.0
        for group in ("BG", "CL", "NM", "mean")
        for name in ("mAP", "mINP", "rank1", "rank10", "rank5")
    }
    assert headline_metrics(cross_view) == [
        "NM/rank1",
        "BG/rank1",
        "CL/rank1",
        "mean/rank1",
        "mean/rank5",
        "mean/rank10",
        "mean/mAP",
        "mean/mINP",
    ]


def test_rows_means_stds_and_n(fusion_sweep: Path) -> None:
    report = build_report([fusion_sweep])
    assert [row.label for row in report.rows] == ["post", "norm", "pre"]  # first appearance
    assert report.metrics == VIEW_HEADLINE
    for name, values in SWEEP_MEAN_RANK1.items():
        summary = report.summaries[(name, "mean/rank1")]
        assert summary.n == 3
        assert summary.mean == pytest.approx(sum(values) / 3)
        assert summary.std == pytest.approx(float(np.std(values, ddof=1)))
    assert report.summaries[("post", "mean/rank1")].std == pytest.approx(2.0)
    assert report.summaries[("norm", "NM/rank1")].mean == pytest.approx(94.0)
    cl = report.summaries[("pre", "CL/rank1")]  # job 8 lacks CL/rank1
    assert (cl.n, cl.mean, cl.std) == (2, pytest.approx(39.0), pytest.approx(math.sqrt(2.0)))


def test_paired_differences_against_the_default_baseline(fusion_sweep: Path) -> None:
    report = build_report([fusion_sweep])
    assert report.baseline.label == "post"
    assert ("post", "mean/rank1") not in report.paired
    norm = report.paired[("norm", "mean/rank1")]  # differences 1, 3, 2 by seed
    assert norm.n == 3
    assert norm.mean == pytest.approx(2.0)
    assert (norm.low, norm.high) == (
        pytest.approx(2.0 - T_2 / math.sqrt(3), abs=1e-5),
        pytest.approx(2.0 + T_2 / math.sqrt(3), abs=1e-5),
    )
    assert norm.verdict == WITHIN_NOISE
    pre = report.paired[("pre", "mean/rank1")]  # differences -2, -2, -3
    half = T_2 * math.sqrt(1 / 3) / math.sqrt(3)
    assert pre.mean == pytest.approx(-7 / 3)
    assert (pre.low, pre.high) == (pytest.approx(-7 / 3 - half), pytest.approx(-7 / 3 + half))
    assert pre.verdict == EXCEEDS_NOISE
    assert report.paired[("pre", "CL/rank1")].n == 2


def test_chosen_baseline_and_metrics(fusion_sweep: Path) -> None:
    report = build_report([fusion_sweep], metrics=["NM/mAP"], baseline="norm")
    assert report.metrics == ["NM/mAP"]
    assert report.baseline.label == "norm"
    post = report.paired[("post", "NM/mAP")]
    assert post.mean == pytest.approx(-2.0)
    assert report.l_grid is None


def test_baseline_declared_by_the_ablation(fusion_sweep: Path) -> None:
    """An ablation's `hydra.sweeper.baseline` (in multirun.yaml) beats the `post` default;
    `--baseline` beats both."""
    (fusion_sweep / "multirun.yaml").write_text("hydra:\n  sweeper:\n    baseline: pre\n")
    report = build_report([fusion_sweep])
    assert report.baseline.label == "pre"
    assert "declared by the ablation" in report.baseline_note
    assert report.paired[("norm", "mean/rank1")].mean == pytest.approx(13 / 3 + 0.0, abs=1e-9)
    assert build_report([fusion_sweep], baseline="post").baseline.label == "post"


def test_problem_jobs_are_listed(fusion_sweep: Path) -> None:
    problems = build_report([fusion_sweep]).problems
    listed = [(p.folder.name, p.row, p.seed, p.status, p.error) for p in problems]
    assert listed == [
        ("8", "pre", 2, COMPLETED, "metrics.json lacks CL/rank1"),
        ("9", "pre", 3, "failed", "RuntimeError: CUDA out of memory"),
        ("10", "norm", 3, "running", "unfinished"),
    ]


def test_labels_from_overrides_and_fusion_post_baseline(
    tmp_path: Path, run_writer, metrics_around
) -> None:
    sweep = tmp_path / "sweep"
    for num, (fusion, seed, value) in enumerate(
        [("post", 0, 60.0), ("post", 1, 62.0), ("norm", 0, 61.0), ("norm", 1, 66.0)]
    ):
        overrides = [f"fusion={fusion}", "trainer.max_steps=100", f"seed={seed}"]
        run_writer(sweep / str(num), overrides, seed, metrics=metrics_around(value))
    run_writer(sweep / "4", [], 0, metrics=metrics_around(50.0))
    report = build_report([sweep])
    post, norm = "fusion=post trainer.max_steps=100", "fusion=norm trainer.max_steps=100"
    assert [row.label for row in report.rows] == [post, norm, "(defaults)"]
    assert report.common_overrides == ()  # the defaults row has none of them
    assert report.baseline.label == post
    assert report.paired[(norm, "mean/rank1")].mean == pytest.approx(2.5)
    assert report.paired[("(defaults)", "mean/rank1")].n == 1


def test_common_overrides_leave_the_labels(tmp_path: Path, run_writer, metrics_around) -> None:
    sweep = tmp_path / "sweep"
    for num, fusion in enumerate(["pre", "norm"]):
        overrides = [f"fusion={fusion}", "trainer.max_steps=100", "seed=0"]
        run_writer(sweep / str(num), overrides, 0, metrics=metrics_around(60.0))
    report = build_report([sweep])
    assert [row.label for row in report.rows] == ["fusion=pre", "fusion=norm"]
    assert report.common_overrides == ("trainer.max_steps=100",)
    assert report.baseline is None
    assert "--baseline" in report.baseline_note


def test_l_grid_heatmap_values(tmp_path: Path, run_writer, metrics_around) -> None:
    sweep = tmp_path / "l_grid"
    grid = {(-1.0, 0.0): (70.0, 72.0), (-1.0, 1.0): (74.0, 76.0), (0.0, 1.0): (71.0, 71.0)}
    num = 0
    for (l_min, l_max), values in grid.items():
        for seed, value in enumerate(values):
            overrides = ["fusion=norm", f"fusion.schedule.l_min={l_min:g}"]
            overrides += [f"fusion.schedule.l_max={l_max:g}", f"seed={seed}"]
            run_writer(
                sweep / str(num),
                overrides,
                seed,
                metrics=metrics_around(value),
                row=f"[{l_min:g},{l_max:g}]",
                ablation="l_grid",
            )
            num += 1
    # an invalid range that failed: its cell stays blank
    schedule = {"fusion": {"schedule": {"mode": "abs", "l_min": 1.0, "l_max": 0.0}}}
    run_writer(
        sweep / str(num),
        ["fusion=norm", "seed=0"],
        0,
        status="failed",
        error="ValueError: l_min > l_max",
        row="[1,0]",
        ablation="l_grid",
        config=schedule,
    )
    report = build_report([sweep])
    lgrid = report.l_grid
    assert (lgrid.l_mins, lgrid.l_maxs, lgrid.metric) == (
        [-1.0, 0.0, 1.0],
        [0.0, 1.0],
        "mean/rank1",
    )
    expected = np.array([[71.0, 75.0], [np.nan, 71.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(lgrid.values, expected)


def test_static_schedules_make_no_l_grid(tmp_path: Path, run_writer, metrics_around) -> None:
    sweep = tmp_path / "static"
    for num, value in enumerate([-1.0, 0.0, 1.0]):
        config = {"fusion": {"schedule": {"mode": "static", "value": value}}}
        overrides = ["fusion=norm", "fusion/schedule=static", f"fusion.schedule.value={value:g}"]
        run_writer(sweep / str(num), overrides, 0, metrics=metrics_around(60.0), config=config)
    assert build_report([sweep]).l_grid is None


def test_shared_labels_and_repeated_seeds(tmp_path: Path, run_writer, metrics_around) -> None:
    first, second = tmp_path / "2026-11-30_10-00-00", tmp_path / "2026-11-30_11-00-00"
    run_writer(first / "0", ["fusion=post", "seed=0"], 0, metrics=metrics_around(70.0), row="post")
    run_writer(first / "1", ["fusion=post", "seed=0"], 0, metrics=metrics_around(74.0), row="post")
    overrides = ["loss=circle", "fusion=post", "seed=0"]
    run_writer(second / "0", overrides, 0, metrics=metrics_around(60.0), row="post")
    report = build_report([tmp_path])
    assert [row.label for row in report.rows] == [
        "post (fusion=post)",
        "post (loss=circle fusion=post)",
    ]
    summary = report.summaries[("post (fusion=post)", "mean/rank1")]
    assert (summary.mean, summary.n) == (72.0, 2)
    assert report.baseline is report.rows[0]
    assert report.paired[("post (loss=circle fusion=post)", "mean/rank1")].mean == -10.0
    assert report.notes == [
        "row 'post (fusion=post)' has 2 completed runs with seed 0: all count in its mean and "
        "std, the first pairs with the baseline"
    ]


def test_row_label_splits_equal_overrides(tmp_path: Path, run_writer, metrics_around) -> None:
    # an ablation whose rows come from its config file: the same overrides, different `row`
    for num, (row, seed) in enumerate([("static_0", 0), ("static_1", 0), ("static_0", 1)]):
        overrides = ["ablation=table4", f"seed={seed}"]
        run_writer(
            tmp_path / "sweep" / str(num), overrides, seed, metrics=metrics_around(60.0), row=row
        )
    report = build_report([tmp_path / "sweep"])
    assert [(row.label, len(row.jobs)) for row in report.rows] == [("static_0", 2), ("static_1", 1)]


def test_the_order_of_overrides_does_not_split_a_row(
    tmp_path: Path, run_writer, metrics_around
) -> None:
    """Two sweeps of one table, the second typed with its overrides in another order."""
    first = ["+ablation=fusion", "fusion=norm", "experiment=quick"]
    second = ["fusion=norm", "experiment=quick", "+ablation=fusion"]
    for sweep, overrides, seed in (("a", first, 0), ("b", second, 1)):
        run_writer(
            tmp_path / sweep / "0", [*overrides, f"seed={seed}"], seed, metrics=metrics_around(60.0)
        )
    report = build_report([tmp_path / "a", tmp_path / "b"])
    assert [len(row.jobs) for row in report.rows] == [2]
    assert report.rows[0].overrides == tuple(first)  # shown as first seen

"""The report's part-weights section, from hand-written fusion_weights.csv files.

Row ``norm``: 2 seeds of the term ``triplet`` (6 parts) with omega_p = 1 + (r - 1) * SHAPE[p] at
a step of tilt ratio r, so max/min = r (part 3 over part 1); seed 0 has ratios 1.0, 1.1, 1.04
(median 1.04, max 1.1, 1/3 above 1.05), seed 1 1.0, 1.2, 1.06, 1.1 (median 1.08, max 1.2, 3/4).
Seed 0 also logs the term ``softmax`` with omega = 1. Row ``post``: omega = 1 throughout. Row
``pre``: an older run without the file.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from rich.console import Console

from gaitwave.analysis.ablation import build_report
from gaitwave.analysis.tables import NO_PART_WEIGHT_LOGS, to_markdown, write_report
from gaitwave.analysis.weights import read_fusion_log

SHAPE = [0.2, 0.0, 0.4, 1.0, 0.8, 0.6]  # part 3 most favoured, part 1 least
RATIOS = {0: [1.0, 1.1, 1.04], 1: [1.0, 1.2, 1.06, 1.1]}
MEAN_TILT = ((0.0 + 0.1 + 0.04) / 3 + (0.0 + 0.2 + 0.06 + 0.1) / 4) / 2  # mean of r - 1


def loss_of(part: int, index: int) -> float:
    """F of a part at the index-th logged step: 0.1 (part + 1) + 0.01 index."""
    return 0.1 * (part + 1) + 0.01 * index


def write_log(folder: Path, terms: dict[str, list[list[float]]]) -> None:
    """fusion_weights.csv with one logged step every 50 per row of omega ``[S][P]`` per term."""
    with (folder / "fusion_weights.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "term", "part", "F", "omega"])
        steps = max(len(omega) for omega in terms.values())
        for index in range(steps):
            for term, omega in terms.items():
                if index < len(omega):
                    for part, weight in enumerate(omega[index]):
                        writer.writerow([50 * index, term, part, loss_of(part, index), weight])


def tilted(ratios: list[float]) -> list[list[float]]:
    return [[1.0 + (r - 1.0) * s for s in SHAPE] for r in ratios]


@pytest.fixture
def weight_sweep(tmp_path: Path, run_writer, metrics_around) -> Path:
    """Rows post, norm, pre (module docstring), 2 seeds each, and a failed norm job whose log
    must not count."""
    sweep = tmp_path / "sweep"
    num = 0
    for row in ("post", "norm", "pre"):
        for seed in (0, 1):
            folder = run_writer(
                sweep / str(num), [f"fusion={row}", f"seed={seed}"], seed,
                metrics=metrics_around(70.0), row=row,
            )  # fmt: skip
            num += 1
            if row == "post":
                write_log(folder, {"triplet": [[1.0] * 6] * 3})
            elif row == "norm":
                terms = {"triplet": tilted(RATIOS[seed])}
                if seed == 0:
                    terms["softmax"] = [[1.0] * 6] * 2
                write_log(folder, terms)
    failed = run_writer(
        sweep / str(num), ["fusion=norm", "seed=2"], 2, status="failed", error="E: x", row="norm"
    )
    write_log(failed, {"triplet": tilted([3.0])})
    return sweep


def test_row_statistics_over_seeds(weight_sweep: Path) -> None:
    report = build_report([weight_sweep])
    found = {(w.row, w.term): w for w in report.part_weights}
    assert list(found) == [("post", "triplet"), ("norm", "triplet"), ("norm", "softmax")]
    norm = found[("norm", "triplet")]
    assert norm.n_jobs == 2  # the failed job's log is left out
    assert (norm.median_ratio.mean, norm.median_ratio.std) == (
        pytest.approx(1.06),
        pytest.approx(0.02 * math.sqrt(2)),
    )
    assert (norm.max_ratio.mean, norm.max_ratio.std) == (
        pytest.approx(1.15),
        pytest.approx(0.05 * math.sqrt(2)),
    )
    assert norm.tilted.mean == pytest.approx((1 / 3 + 3 / 4) / 2)
    assert norm.mean_omega == pytest.approx([1.0 + MEAN_TILT * s for s in SHAPE])
    # F averaged over steps (index 1 of 3 steps, 1.5 of 4), then over the two seeds
    assert norm.mean_F == pytest.approx([0.1 * (p + 1) + 0.0125 for p in range(6)])
    assert (norm.favoured(most=True), norm.favoured(most=False)) == ([3, 4, 5], [1, 0, 2])
    assert not norm.uniform
    post = found[("post", "triplet")]
    assert (post.median_ratio.mean, post.max_ratio.mean, post.tilted.mean) == (1.0, 1.0, 0.0)
    assert post.uniform and found[("norm", "softmax")].n_jobs == 1
    assert report.notes == []  # the row without logs is skipped silently


def test_markdown_section(weight_sweep: Path) -> None:
    markdown = to_markdown(build_report([weight_sweep]))
    section = markdown[markdown.index("## Part weights") :]
    assert "omega = 1 for every part under post- and pre-fusion" in section
    triplet = section[section.index("### triplet") : section.index("### softmax")]
    header = (
        "| row | median ratio | max ratio | steps > 1.05 | most favoured parts | "
        "least favoured parts |"
    )
    assert header in triplet
    assert "| post | 1.000 ± 0.000 | 1.000 ± 0.000 | 0 ± 0 % | all equal | all equal |" in triplet
    assert "| norm | 1.060 ± 0.028 | 1.150 ± 0.071 | 54 ± 29 % | 3, 4, 5 | 1, 0, 2 |" in triplet
    assert "| pre |" not in section
    softmax = section[section.index("### softmax") :]
    assert "| norm | 1.000 (n=1) | 1.000 | 0 % | all equal | all equal |" in softmax


def test_csv_and_png(weight_sweep: Path, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    paths = write_report(build_report([weight_sweep]), tmp_path / "out", console)
    assert "triplet: part weights omega over training" in console.export_text()
    with paths["part_weights_csv"].open() as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == 3 * 6  # (post, triplet), (norm, triplet), (norm, softmax) x 6 parts
    assert list(lines[0]) == ["row", "term", "part", "mean_omega", "mean_F", "n_jobs"]
    norm = {
        int(line["part"]): line
        for line in lines
        if (line["row"], line["term"]) == ("norm", "triplet")
    }
    assert float(norm[3]["mean_omega"]) == pytest.approx(1.0 + MEAN_TILT, abs=1e-6)
    assert float(norm[5]["mean_F"]) == pytest.approx(0.6125, abs=1e-6)
    assert norm[0]["n_jobs"] == "2"
    image = imread(paths["part_weights_png"])
    assert image.shape[0] > image.shape[1] / 2 > 0  # two terms: two rows of panels
    assert "part_weights" in paths["markdown"].read_text()


def test_without_any_log_the_section_says_so(tmp_path: Path, fusion_sweep: Path) -> None:
    paths = write_report(build_report([fusion_sweep]), tmp_path / "out", Console(record=True))
    assert NO_PART_WEIGHT_LOGS in paths["markdown"].read_text()
    assert "part_weights_csv" not in paths
    assert not (tmp_path / "out" / "part_weights.png").exists()


def test_resumed_run_counts_a_repeated_step_once(tmp_path: Path) -> None:
    path = tmp_path / "fusion_weights.csv"
    path.write_text(
        "step,term,part,F,omega\n"
        "0,triplet,0,0.5,1\n0,triplet,1,0.5,1\n"
        "50,triplet,0,0.9,1.3\n50,triplet,1,0.1,0.7\n"  # written, then the run was killed
        "50,triplet,0,0.6,1.1\n50,triplet,1,0.4,0.9\n"  # the resumed run logs step 50 again
    )
    log = read_fusion_log(path)["triplet"]
    assert log.steps.tolist() == [0, 50]
    assert log.omega.tolist() == [[1.0, 1.0], [1.1, 0.9]]
    assert log.F.tolist() == [[0.5, 0.5], [0.6, 0.4]]
    assert log.ratios == pytest.approx([1.0, 1.1 / 0.9])


def test_bad_logs_become_notes(tmp_path: Path, run_writer, metrics_around) -> None:
    sweep = tmp_path / "sweep"
    folders = [
        run_writer(sweep / str(n), ["fusion=norm", f"seed={n}"], n, metrics=metrics_around(70.0))
        for n in range(3)
    ]
    write_log(folders[0], {"triplet": tilted([1.1])})
    write_log(folders[1], {"triplet": [[1.0, 1.0]]})  # 2 parts, not 6
    (folders[2] / "fusion_weights.csv").write_text("step,term,part,omega\n0,triplet,0,1\n")
    report = build_report([sweep])
    (weights,) = report.part_weights
    assert weights.n_jobs == 1 and np.isclose(weights.max_ratio.mean, 1.1)
    unreadable, other_parts = report.notes
    assert unreadable.startswith(f"{folders[2] / 'fusion_weights.csv'} lacks column(s) F")
    assert other_parts.startswith(f"{folders[1] / 'fusion_weights.csv'}: 2 parts for 'triplet'")

"""Report files are written and parse back to the numbers they were made from."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from rich.console import Console

from gaitwave.evaluation import ViewMatrix, summarize_view_matrices
from gaitwave.evaluation.protocols import per_view_means
from gaitwave.evaluation.report import write_report

NAN = math.nan


def results() -> dict[str, ViewMatrix]:
    views = ["000", "090", "180"]
    nm = ViewMatrix(
        views=views,
        rank1=np.array([[100.0, 80.0, 60.0], [70.0, 100.0, NAN], [NAN, NAN, NAN]]),
        mAP=np.array([[100.0, 85.0, 65.0], [75.0, 100.0, NAN], [NAN, NAN, NAN]]),
    )
    bg = ViewMatrix(
        views=views,
        rank1=np.array([[90.0, 40.0, 20.0], [10.0, 90.0, 30.0], [50.0, 60.0, 90.0]]),
        mAP=np.array([[95.0, 45.0, 25.0], [15.0, 95.0, 35.0], [55.0, 65.0, 95.0]]),
    )
    return {"NM": nm, "BG": bg}


def test_write_report(tmp_path: Path) -> None:
    matrices = results()
    metrics = summarize_view_matrices(matrices)
    console = Console(record=True, width=160)
    paths = write_report(matrices, metrics, tmp_path / "run", console=console)
    assert set(paths) == {"metrics", "per_view", "heatmaps"}

    assert json.loads(paths["metrics"].read_text()) == pytest.approx(metrics)
    assert metrics["NM/rank1@000"] == pytest.approx(70.0)  # (80 + 60) / 2

    with paths["per_view"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["condition", "view", "rank1", "mAP"]
    assert len(rows) == 2 * (3 + 1)  # per condition: 3 views and the mean
    for condition, matrix in matrices.items():
        rank1, mean_ap = per_view_means(matrix)
        written = [row for row in rows if row["condition"] == condition]
        assert [row["view"] for row in written] == [*matrix.views, "mean"]
        for row, r, m in zip(written, rank1, mean_ap, strict=False):
            assert (row["rank1"] == "") == math.isnan(r)
            if row["rank1"]:
                assert float(row["rank1"]) == pytest.approx(r)
                assert float(row["mAP"]) == pytest.approx(m)
        assert float(written[-1]["rank1"]) == pytest.approx(metrics[f"{condition}/rank1"])

    image = imread(paths["heatmaps"])
    assert image.ndim == 3 and image.shape[1] > image.shape[0]  # two panels side by side

    text = console.export_text()
    assert "rank-1" in text and "mAP" in text
    assert "NM" in text and "BG" in text and "mean" in text
    assert "70.0" in text  # NM at 000


def test_metrics_json_writes_non_finite_values_as_null(tmp_path: Path) -> None:
    paths = write_report(results(), {"NM/rank1": NAN}, tmp_path, console=Console(quiet=True))
    assert json.loads(paths["metrics"].read_text()) == {"NM/rank1": None}

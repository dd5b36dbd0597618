"""Report files are written, parse back to the numbers they were made from, and average as the
protocol's metrics do."""

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from rich.console import Console

from gaitwave.evaluation import PROTOCOLS, EvalSplit, SequenceLabels, ViewMatrix, per_view_means
from gaitwave.evaluation.base import Evaluation

CASIAB = PROTOCOLS["casiab"]

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
    evaluation = CASIAB.summarize(matrices)
    metrics = evaluation.metrics
    console = Console(record=True, width=160)
    paths = CASIAB.report(evaluation, tmp_path / "run", console=console)
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
    evaluation = Evaluation({"NM/rank1": NAN})
    paths = CASIAB.report(evaluation, tmp_path, console=Console(quiet=True))
    assert json.loads(paths["metrics"].read_text()) == {"NM/rank1": None}


def test_report_averages_as_the_protocol_does(tmp_path: Path) -> None:
    """A view protocol with exclude_identical_views false: its per-view tables and CSV include
    the identical views, as its metrics do (they used to exclude them whatever the protocol)."""
    # 1-D embeddings, views 000 and 090. Gallery nm-01: A = 0, B = 10 at 000; A = 100, B = 110 at
    # 090. NM probes (nm-05) at 000: A = 1 and B = 9 (000: both right; 090: both pick A).
    rows = [
        ("A", "nm-01", "000", 0.0),
        ("B", "nm-01", "000", 10.0),
        ("A", "nm-01", "090", 100.0),
        ("B", "nm-01", "090", 110.0),
        ("A", "nm-05", "000", 1.0),
        ("B", "nm-05", "000", 9.0),
    ]
    emb = torch.tensor([[[value]] for *_, value in rows])
    labels = SequenceLabels(*([row[i] for row in rows] for i in range(3)))
    cases = ((True, 50.0, "identical views excluded"), (False, 75.0, "all gallery views"))
    for exclude, expected, note in cases:
        protocol = dataclasses.replace(CASIAB, exclude_identical_views=exclude)
        evaluation = protocol.evaluate(EvalSplit(emb, labels))
        assert evaluation.metrics["NM/rank1@000"] == pytest.approx(expected)
        console = Console(record=True, width=120)
        paths = protocol.report(evaluation, tmp_path / str(exclude), console)
        with paths["per_view"].open(newline="") as handle:
            written = {row["view"]: row["rank1"] for row in csv.DictReader(handle)}
        assert float(written["000"]) == pytest.approx(expected)
        assert float(written["mean"]) == pytest.approx(evaluation.metrics["NM/rank1"])
        text = " ".join(console.export_text().split())  # the titles wrap to the table width
        assert note in text and f"{expected:.1f}" in text

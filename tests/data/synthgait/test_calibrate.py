"""Calibration summary on hand-made view matrices (the protocol itself is tested in evaluation)."""

from __future__ import annotations

import numpy as np

from gaitwave.data.synthgait.calibrate import gei, summarise, target_report
from gaitwave.evaluation import ViewMatrix

VIEWS = ["000", "090", "180"]


def matrix(values: list[list[float]]) -> ViewMatrix:
    rank1 = np.array(values, dtype=float)
    return ViewMatrix(views=VIEWS, rank1=rank1, mAP=rank1.copy())


def test_same_view_is_the_diagonal_and_cross_view_the_rest() -> None:
    nm = matrix([[90, 10, 20], [30, 100, 50], [0, 40, 80]])
    summary = summarise({"NM": nm})
    assert summary["NM/same"] == np.mean([90, 100, 80])
    assert summary["NM/cross@000"] == 15 and summary["NM/cross@090"] == 40
    assert summary["NM/cross@180"] == 20
    assert summary["NM/cross"] == np.mean([15, 40, 20])
    assert summary["NM/same@090"] == 100


def test_nan_pairs_are_skipped() -> None:
    nm = matrix([[90, np.nan, 20], [30, 100, 50], [0, 40, np.nan]])
    summary = summarise({"NM": nm})
    assert summary["NM/cross@000"] == 20
    assert summary["NM/same"] == 95


def test_targets() -> None:
    good = {
        "NM": matrix([[95, 30, 20], [30, 96, 30], [20, 30, 94]]),
        "BG": matrix([[80, 20, 10], [20, 60, 20], [10, 20, 70]]),
        "CL": matrix([[30, 5, 5], [20, 40, 20], [5, 5, 30]]),
    }
    assert all(ok for _, ok in target_report(summarise(good)))
    too_easy = {**good, "NM": matrix([[100, 60, 60], [60, 100, 60], [60, 60, 100]])}
    missed = [name for name, ok in target_report(summarise(too_easy)) if not ok]
    assert any("NM same-view" in name for name in missed)
    assert any("NM cross-view" in name for name in missed)


def test_gei_is_the_mean_frame_in_unit_range() -> None:
    frames = np.zeros((4, 2, 3), np.uint8)
    frames[:2, 0, 0] = 255
    frames[:, 1, 2] = 255
    assert np.allclose(gei(frames), [0.5, 0, 0, 0, 0, 1.0])

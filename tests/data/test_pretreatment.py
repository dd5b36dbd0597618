"""Pretreatment: hand-made frames with known answers, and a literal reference implementation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gaitwave.data.pretreatment import (
    DROP_DARK,
    DROP_NO_CENTRE,
    pretreat_frames,
    pretreat_frames_report,
)


def reference(frames: list[np.ndarray]) -> np.ndarray:
    """The recipe of docs/PROTOCOLS.md written out step by step with plain loops."""
    out = []
    for img in frames:
        if int(img.astype(np.int64).sum()) <= 10000:
            continue
        row_sums = img.astype(np.int64).sum(axis=1)
        nonempty = [i for i, s in enumerate(row_sums) if s != 0]
        img = img[nonempty[0] : nonempty[-1] + 1, :]
        ratio = img.shape[1] / img.shape[0]
        img = cv2.resize(img, (int(64 * ratio), 64), interpolation=cv2.INTER_CUBIC)
        total = int(img.astype(np.int64).sum())
        running, centre = 0, None
        for x in range(img.shape[1]):
            running += int(img[:, x].astype(np.int64).sum())
            if running > total / 2:
                centre = x
                break
        if not centre:
            continue
        left, right = centre - 32, centre + 32
        if left <= 0 or right >= img.shape[1]:
            pad = np.zeros((img.shape[0], 32))
            img = np.concatenate([pad, img, pad], axis=1)
            left, right = left + 32, right + 32
        out.append(img[:, left:right].astype("uint8"))
    return np.stack(out) if out else np.zeros((0, 64, 64), np.uint8)


def tall_block(x0: int, x1: int, width: int = 128) -> np.ndarray:
    """A 64-row frame (the resize is then the identity) with white columns [x0, x1)."""
    frame = np.zeros((64, width), np.uint8)
    frame[:, x0:x1] = 255
    return frame


def test_empty_frame_is_dropped() -> None:
    report = pretreat_frames_report([np.zeros((240, 320), np.uint8)])
    assert report.kept == 0 and report.frames.shape == (0, 64, 64)
    assert report.dropped[DROP_DARK] == 1 and report.few_frames


def test_pixel_sum_threshold_is_inclusive() -> None:
    at_threshold = np.zeros((240, 320), np.uint8)
    at_threshold[100, 100:140] = 250  # sum 10000: dropped
    above = at_threshold.copy()
    above[101, 100] = 1  # sum 10001: kept
    report = pretreat_frames_report([at_threshold, above])
    assert report.dropped[DROP_DARK] == 1 and report.kept == 1


def test_centre_is_first_column_past_half_the_mass() -> None:
    # 20 white columns 40..59: the cumulative sum reaches exactly half at column 49 and exceeds
    # it at column 50, so the window is [18, 82) and the block lands on columns 22..41
    out = pretreat_frames([tall_block(40, 60)])
    expected = np.zeros((64, 64), np.uint8)
    expected[:, 22:42] = 255
    np.testing.assert_array_equal(out[0], expected)


def test_centre_at_column_zero_is_dropped() -> None:
    report = pretreat_frames_report([tall_block(0, 1, width=100)])
    assert report.kept == 0 and report.dropped[DROP_NO_CENTRE] == 1


@pytest.mark.parametrize(("x0", "x1", "first_white"), [(1, 9, 28), (118, 126, 28)])
def test_border_cases_are_padded(x0: int, x1: int, first_white: int) -> None:
    # centre 5 (left - 32 <= 0) or 122 (right + 32 >= 128): pad 32 each side, shift the window;
    # the block starts 4 columns left of the centre, i.e. at 32 - 4 = 28 in the output
    report = pretreat_frames_report([tall_block(x0, x1)])
    assert report.padded == 1
    columns = np.flatnonzero(report.frames[0].any(axis=0))
    assert columns[0] == first_white and len(columns) == x1 - x0


def test_matches_the_literal_recipe_on_random_silhouettes() -> None:
    rng = np.random.default_rng(0)
    frames = [np.zeros((240, 320), np.uint8)]
    for _ in range(40):
        frame = np.zeros((240, 320), np.uint8)
        cx, cy = int(rng.integers(-20, 340)), int(rng.integers(40, 200))
        axes = (int(rng.integers(3, 40)), int(rng.integers(5, 110)))
        cv2.ellipse(frame, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        if rng.random() < 0.3:
            frame[rng.integers(0, 240), :] = 255  # a full-width line: very wide after resize
        frames.append(frame)
    report = pretreat_frames_report(frames)
    expected = reference(frames)
    assert report.frames.dtype == np.uint8
    np.testing.assert_array_equal(report.frames, expected)
    assert report.total == len(frames)
    assert report.kept + sum(report.dropped.values()) == len(frames)


def test_accepts_an_array_and_rejects_non_uint8() -> None:
    stack = np.stack([tall_block(40, 60), tall_block(30, 80)])
    assert pretreat_frames(stack).shape == (2, 64, 64)
    with pytest.raises(ValueError, match=r"frame 1 .*uint8"):
        pretreat_frames([tall_block(40, 60), tall_block(40, 60).astype(np.float32)])
    with pytest.raises(ValueError, match="grayscale"):
        pretreat_frames([np.zeros((64, 64, 3), np.uint8)])

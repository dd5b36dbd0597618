"""Pretreatment of raw silhouettes into the OpenGait pickle layout's 64 x 64 frames.

Published numbers depend on this recipe, so it is followed bit for bit (docs/PROTOCOLS.md,
"Pretreatment"), per frame in sorted order:

1. drop the frame if its pixel sum is <= 10000 (about 40 white pixels);
2. crop the rows from the first to the last non-empty row, both included;
3. resize to (int(64 * (w / h)), 64) (width, height) with `cv2.INTER_CUBIC`;
4. x-centre = the first column whose cumulative column sum exceeds half the image's total; if
   there is none, or it is column 0, drop the frame;
5. if centre - 32 <= 0 or centre + 32 >= width, pad 32 zero columns on both sides (and shift the
   window by 32); keep columns [centre - 32, centre + 32) as uint8 64 x 64.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

OUTPUT_SIZE = 64
HALF_WIDTH = OUTPUT_SIZE // 2
MIN_PIXEL_SUM = 10000  # frames whose sum is <= this are dropped
FEW_FRAMES = 5  # sequences with fewer frames left deserve a mention in reports

DROP_DARK = "sum<=10000"
DROP_NO_CENTRE = "no x-centre"


@dataclass
class PretreatmentReport:
    """What pretreatment kept and why it dropped the rest.

    `frames` is uint8 `[T, 64, 64]`; `dropped` counts frames per reason (`DROP_DARK`,
    `DROP_NO_CENTRE`); `padded` counts kept frames that needed the 32-column padding.
    """

    frames: np.ndarray
    total: int
    dropped: dict[str, int] = field(default_factory=lambda: {DROP_DARK: 0, DROP_NO_CENTRE: 0})
    padded: int = 0

    @property
    def kept(self) -> int:
        return int(self.frames.shape[0])

    @property
    def few_frames(self) -> bool:
        """True when fewer than 5 frames are left (an empty result included)."""
        return self.kept < FEW_FRAMES


def _check_frame(frame: np.ndarray, index: int) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 2:
        got = (
            f"{type(frame).__name__}"
            if not isinstance(frame, np.ndarray)
            else f"{frame.dtype} array of shape {frame.shape}"
        )
        raise ValueError(
            f"pretreatment: frame {index} is a {got}; expected a 2-D uint8 grayscale image "
            "(read PNGs with cv2.imread(path, cv2.IMREAD_GRAYSCALE))"
        )


def pretreat_frame(frame: np.ndarray) -> tuple[np.ndarray | None, str | None, bool]:
    """One frame: (uint8 `[64, 64]` or None, the drop reason or None, whether it was padded)."""
    # cv2's sums are exact here (float64 up to 2**53, int32 per row) and much faster than numpy's
    if cv2.sumElems(frame)[0] <= MIN_PIXEL_SUM:
        return None, DROP_DARK, False
    rows = np.flatnonzero(cv2.reduce(frame, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S))
    cropped = frame[rows[0] : rows[-1] + 1]
    height, width = cropped.shape
    ratio = width / height  # as in the reference: int(64 * (w / h)), not int(64 * w / h)
    resized = cv2.resize(
        cropped, (int(OUTPUT_SIZE * ratio), OUTPUT_SIZE), interpolation=cv2.INTER_CUBIC
    )
    columns = cv2.reduce(resized, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().cumsum()
    above = np.flatnonzero(columns > columns[-1] / 2)
    if above.size == 0 or above[0] == 0:
        return None, DROP_NO_CENTRE, False
    centre = int(above[0])
    left, right = centre - HALF_WIDTH, centre + HALF_WIDTH
    padded = left <= 0 or right >= resized.shape[1]
    if padded:
        resized = cv2.copyMakeBorder(resized, 0, 0, HALF_WIDTH, HALF_WIDTH, cv2.BORDER_CONSTANT, 0)
        left, right = left + HALF_WIDTH, right + HALF_WIDTH
    return np.ascontiguousarray(resized[:, left:right]), None, padded


def pretreat_frames_report(frames: Iterable[np.ndarray] | np.ndarray) -> PretreatmentReport:
    """Pretreat grayscale uint8 frames (a list of `[H, W]` or an array `[T, H, W]`, in sorted
    order) and say what was dropped and why."""
    kept: list[np.ndarray] = []
    report = PretreatmentReport(frames=np.zeros((0, OUTPUT_SIZE, OUTPUT_SIZE), np.uint8), total=0)
    for index, frame in enumerate(frames):
        _check_frame(frame, index)
        report.total += 1
        out, reason, padded = pretreat_frame(frame)
        if out is None:
            report.dropped[reason] += 1
            continue
        report.padded += int(padded)
        kept.append(out)
    if kept:
        report.frames = np.stack(kept)
    return report


def pretreat_frames(frames: Iterable[np.ndarray] | np.ndarray) -> np.ndarray:
    """Pretreat grayscale uint8 frames into uint8 `[T, 64, 64]` (T may be 0)."""
    return pretreat_frames_report(frames).frames

"""Which frames of a sequence of `length` frames make a clip: index arrays, drawn from a Generator.

Modes:
    fixed_unordered    `frames` random frames in random order (with replacement if shorter).
    fixed_ordered      a random window of `frames + skip` consecutive frames, `frames` of them kept
                       in order (a sequence shorter than the window is repeated cyclically).
    unfixed_unordered  as fixed_unordered with a clip length drawn from `frames_range`.
    unfixed_ordered    as fixed_ordered with a clip length drawn from `frames_range`.
    all_ordered        every frame in order, the first `cap` at most (for testing).

Clips of one batch share a length, so the length is drawn once per batch (`clip_length`) and
passed to `indices`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_MODES = (
    "fixed_unordered",
    "fixed_ordered",
    "unfixed_unordered",
    "unfixed_ordered",
    "all_ordered",
)


def unordered_indices(length: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random frame indices in random order; repeats only when `length < count`."""
    return rng.choice(length, size=count, replace=length < count)


def ordered_indices(length: int, count: int, rng: np.random.Generator, skip: int = 0) -> np.ndarray:
    """`count` increasing indices from a random window of `count + skip` consecutive frames.

    A sequence shorter than the window is walked cyclically from a random start.
    """
    window = count + skip
    if length >= window:
        start = rng.integers(0, length - window + 1)
        candidates = np.arange(start, start + window)
    else:
        candidates = (np.arange(window) + rng.integers(0, length)) % length
    keep = np.sort(rng.choice(window, size=count, replace=False))
    return candidates[keep]


def all_indices(length: int, cap: int) -> np.ndarray:
    """Every frame in order, the first `cap` at most."""
    return np.arange(min(length, cap))


@dataclass(frozen=True)
class FrameSampler:
    """Frame selection for clips (see the module docstring for the modes).

    Args:
        mode: one of `FRAME_MODES`.
        frames: clip length of the fixed modes.
        skip: extra frames in the window of the ordered modes (DeepGaitV2 uses 4).
        frames_range: (min, max) clip length, both included, for the unfixed modes.
        cap: most frames kept by `all_ordered`.
    """

    mode: str = "fixed_unordered"
    frames: int = 30
    skip: int = 0
    frames_range: tuple[int, int] | None = None
    cap: int = 720

    def __post_init__(self) -> None:
        if self.mode not in FRAME_MODES:
            raise ValueError(f"frame mode '{self.mode}' is not one of {FRAME_MODES}")
        if self.frames < 1 or self.skip < 0 or self.cap < 1:
            raise ValueError(
                f"frames ({self.frames}) and cap ({self.cap}) must be >= 1 and skip "
                f"({self.skip}) >= 0"
            )
        if self.mode.startswith("unfixed"):
            if self.frames_range is None or len(self.frames_range) != 2:
                raise ValueError(
                    f"frame mode '{self.mode}' needs frames_range=[min, max] (clip lengths)"
                )
            low, high = self.frames_range
            if not 1 <= low <= high:
                raise ValueError(f"frames_range {list(self.frames_range)} needs 1 <= min <= max")

    def clip_length(self, rng: np.random.Generator) -> int | None:
        """Clip length for one batch: `frames`, a draw from `frames_range`, or None (all)."""
        if self.mode == "all_ordered":
            return None
        if self.mode.startswith("unfixed"):
            low, high = self.frames_range
            return int(rng.integers(low, high + 1))
        return self.frames

    def indices(
        self, length: int, rng: np.random.Generator, count: int | None = None
    ) -> np.ndarray:
        """Frame indices `[count]` of a clip from a sequence of `length` frames.

        Args:
            length: frames in the sequence (>= 1).
            rng: the randomness of this clip.
            count: clip length from `clip_length` (default: `frames`; ignored by all_ordered).
        """
        if self.mode == "all_ordered":
            return all_indices(length, self.cap)
        count = self.frames if count is None else count
        if self.mode.endswith("unordered"):
            return unordered_indices(length, count, rng)
        return ordered_indices(length, count, rng, self.skip)

"""Sequence transforms on uint8 silhouettes.

Contract: a transform is a callable `transform(frames, rng) -> frames` taking uint8 `[T, H, W]`
(0..255) and a `np.random.Generator`, and returning uint8 `[T, H', W']`. Random parameters are
drawn once per call, so every frame of a sequence gets the same flip, the same erased box (and,
later, the same rotation, perspective or affine warp). Inputs are never modified in place (they
may be cached arrays). The datamodule converts to float32 in [0, 1] after the transforms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]

INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR}


def _check_probability(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability p={p} must be in [0, 1]")
    return float(p)


class Resize:
    """Resize every frame to `[height, width]`.

    `interpolation="area"` (cv2.INTER_AREA, default) averages the covered pixels when shrinking,
    which keeps thin limbs visible in binary silhouettes; `"bilinear"` is cv2.INTER_LINEAR.
    Deterministic: `rng` is ignored.
    """

    def __init__(self, height: int, width: int, interpolation: str = "area") -> None:
        if height < 1 or width < 1:
            raise ValueError(f"Resize({height}, {width}): height and width must be >= 1")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation '{interpolation}' is not one of {sorted(INTERPOLATIONS)}"
            )
        self.height, self.width = height, width
        self.interpolation = INTERPOLATIONS[interpolation]

    def __call__(self, frames: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if frames.shape[1:] == (self.height, self.width):
            return frames
        size = (self.width, self.height)  # cv2 wants (width, height)
        frames = np.ascontiguousarray(frames)
        return np.stack([cv2.resize(f, size, interpolation=self.interpolation) for f in frames])

    def __repr__(self) -> str:
        return f"Resize(height={self.height}, width={self.width})"


class RandomHorizontalFlip:
    """Mirror the whole sequence left-right with probability `p`."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_probability(p)

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.p:
            return frames[:, :, ::-1]
        return frames

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomErasing:
    """With probability `p`, set one box to `value` in every frame (an occluder that stays put).

    The box covers a fraction of the frame drawn from `area` and has a height / width ratio
    drawn log-uniformly from `aspect`.
    """

    def __init__(
        self,
        p: float = 0.5,
        area: Sequence[float] = (0.02, 0.2),
        aspect: Sequence[float] = (0.3, 3.3),
        value: int = 0,
    ) -> None:
        self.p = _check_probability(p)
        if not 0.0 < area[0] <= area[1] <= 1.0:
            raise ValueError(f"RandomErasing area {list(area)} needs 0 < min <= max <= 1")
        if not 0.0 < aspect[0] <= aspect[1]:
            raise ValueError(f"RandomErasing aspect {list(aspect)} needs 0 < min <= max")
        if not 0 <= value <= 255:
            raise ValueError(f"RandomErasing value {value} must be a uint8 level in 0..255")
        self.area = (float(area[0]), float(area[1]))
        self.aspect = (float(aspect[0]), float(aspect[1]))
        self.value = int(value)

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return frames
        height, width = frames.shape[1:]
        box_area = rng.uniform(*self.area) * height * width
        ratio = np.exp(rng.uniform(np.log(self.aspect[0]), np.log(self.aspect[1])))
        box_h = int(np.clip(round(np.sqrt(box_area * ratio)), 1, height))
        box_w = int(np.clip(round(np.sqrt(box_area / ratio)), 1, width))
        top = int(rng.integers(0, height - box_h + 1))
        left = int(rng.integers(0, width - box_w + 1))
        erased = frames.copy()
        erased[:, top : top + box_h, left : left + box_w] = self.value
        return erased

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, area={self.area}, aspect={self.aspect})"


class Compose:
    """Apply transforms in order, sharing one Generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        for position, transform in enumerate(transforms):
            if not callable(transform):
                raise TypeError(
                    f"transform #{position} ({transform!r}) is not callable; give transform "
                    "objects, e.g. `- _target_: gaitwave.data.transforms.RandomHorizontalFlip`"
                )
        self.transforms = list(transforms)

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            frames = transform(frames, rng)
        return frames

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"

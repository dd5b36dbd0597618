"""Sequence transforms on uint8 silhouettes.

Contract: a transform is a callable `transform(frames, rng) -> frames` taking uint8 `[T, H, W]`
(0..255) and a `np.random.Generator`, and returning uint8 `[T, H', W']`. Random parameters are
drawn once per call, so every frame of a sequence gets the same flip, the same erased box, the
same rotation, perspective or affine warp. Inputs are never modified in place (they may be cached
arrays). The datamodule converts to float32 in [0, 1] after the transforms.

Warps use pixel coordinates (x right, y down, pixel centres at integers), bilinear interpolation
(so a binary silhouette gets grey edge levels in 0..255) and zeros outside the frame; the frame
size is kept. A positive angle turns the picture counter-clockwise as seen on screen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import cv2
import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]

INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR}


def _check_probability(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability p={p} must be in [0, 1]")
    return float(p)


def _check_range(owner: str, name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ValueError(f"{owner} {name}={value} must be in [{low}, {high}]")
    return float(value)


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


def warp_frames(frames: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp every frame of uint8 `[T, H, W]` with one `[3, 3]` matrix (source -> output pixel
    coordinates); bilinear, zeros outside, same size. Returns a new uint8 `[T, H, W]`.

    Frames go to OpenCV one by one: warping them as one T-channel image is ~2.5x faster, but
    OpenCV (5.0 here) interpolates images of more than 4 channels less exactly (up to 7 levels
    off a float reference, against 0.5 frame by frame).
    """
    height, width = frames.shape[1:]
    size = (width, height)  # cv2 wants (width, height)
    frames = np.ascontiguousarray(frames)  # a flipped view has negative strides
    options = {"flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_CONSTANT, "borderValue": 0}
    if np.allclose(matrix[2], (0.0, 0.0, 1.0)):
        affine = matrix[:2]
        return np.stack([cv2.warpAffine(f, affine, size, **options) for f in frames])
    return np.stack([cv2.warpPerspective(f, matrix, size, **options) for f in frames])


def rotation_matrix(angle: float, height: int, width: int) -> np.ndarray:
    """`[3, 3]` rotation by `angle` degrees (counter-clockwise on screen) about the centre of a
    `height` x `width` frame."""
    return _about_centre(_linear(angle, 0.0, 1.0), (0.0, 0.0), height, width)


def _linear(angle: float, shear: float, scale: float) -> np.ndarray:
    """`[2, 2]`: rotation(angle) @ x-shear(shear) @ scale, angles in degrees."""
    turn = np.deg2rad(angle)
    cos, sin = np.cos(turn), np.sin(turn)
    rotation = np.array([[cos, sin], [-sin, cos]])  # y points down
    shearing = np.array([[1.0, np.tan(np.deg2rad(shear))], [0.0, 1.0]])
    return rotation @ shearing * scale


def _about_centre(
    linear: np.ndarray, shift: tuple[float, float], height: int, width: int
) -> np.ndarray:
    """`[3, 3]`: apply `linear` about the frame centre, then move by `shift` = (dx, dy) pixels."""
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre + np.asarray(shift) - linear @ centre
    return matrix


class _RandomWarp(ABC):
    """With probability `p`, warp every frame with one matrix drawn by `matrix()`."""

    def __init__(self, p: float) -> None:
        self.p = _check_probability(p)

    @abstractmethod
    def matrix(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw the `[3, 3]` warp (source -> output pixel coordinates) for one sequence."""

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return frames
        height, width = frames.shape[1:]
        return warp_frames(frames, self.matrix(height, width, rng))


class RandomRotation(_RandomWarp):
    """With probability `p`, rotate the sequence about the frame centre by an angle drawn
    uniformly from [-degrees, degrees]."""

    def __init__(self, p: float = 0.5, degrees: float = 10.0) -> None:
        super().__init__(p)
        self.degrees = _check_range("RandomRotation", "degrees", degrees, 0.0, 180.0)

    def matrix(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        return rotation_matrix(rng.uniform(-self.degrees, self.degrees), height, width)

    def __repr__(self) -> str:
        return f"RandomRotation(p={self.p}, degrees={self.degrees})"


class RandomPerspective(_RandomWarp):
    """With probability `p`, a perspective warp: each corner of the frame moves inwards by up
    to `distortion` x half the width (x) and half the height (y), drawn uniformly and
    independently, and the frame is mapped onto the quadrilateral they make."""

    def __init__(self, p: float = 0.5, distortion: float = 0.2) -> None:
        super().__init__(p)
        self.distortion = _check_range("RandomPerspective", "distortion", distortion, 0.0, 1.0)

    def matrix(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        right, bottom = width - 1, height - 1
        corners = np.array([[0, 0], [right, 0], [right, bottom], [0, bottom]], np.float32)
        inwards = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
        reach = self.distortion * np.array([right / 2, bottom / 2])
        moved = corners + inwards * rng.uniform(0.0, 1.0, (4, 2)) * reach
        return cv2.getPerspectiveTransform(corners, moved.astype(np.float32))

    def __repr__(self) -> str:
        return f"RandomPerspective(p={self.p}, distortion={self.distortion})"


class RandomAffine(_RandomWarp):
    """With probability `p`, an affine warp about the frame centre: rotation by an angle in
    [-degrees, degrees], an x-shear by an angle in [-shear, shear] degrees, a zoom in
    [scale[0], scale[1]] and a shift of up to `translate` x the width (x) and height (y), all
    uniform. Applied as shift after rotation after shear after zoom."""

    def __init__(
        self,
        p: float = 0.5,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: Sequence[float] = (0.9, 1.1),
        shear: float = 5.0,
    ) -> None:
        super().__init__(p)
        self.degrees = _check_range("RandomAffine", "degrees", degrees, 0.0, 180.0)
        self.translate = _check_range("RandomAffine", "translate", translate, 0.0, 1.0)
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1]:
            raise ValueError(f"RandomAffine scale={list(scale)} needs [min, max], 0 < min <= max")
        self.scale = (float(scale[0]), float(scale[1]))
        self.shear = _check_range("RandomAffine", "shear", shear, 0.0, 45.0)

    def matrix(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(-self.degrees, self.degrees)
        shear = rng.uniform(-self.shear, self.shear)
        zoom = rng.uniform(*self.scale)
        shift = rng.uniform(-self.translate, self.translate, 2) * (width, height)
        return _about_centre(_linear(angle, shear, zoom), tuple(shift), height, width)

    def __repr__(self) -> str:
        return (
            f"RandomAffine(p={self.p}, degrees={self.degrees}, translate={self.translate}, "
            f"scale={self.scale}, shear={self.shear})"
        )


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

"""Segmentation noise at raster resolution, drawn per take (id, type, view).

Background subtraction in CASIA-B is imperfect: frames are eroded or dilated by 1..3 px, lose
horizontal bands, grow or lose blobs on the contour, and now and then come out empty; the lab's
lights cast a foot shadow at some cameras. (Partial frames, where the walker enters or leaves
the picture, come from the take's geometry: see `nuisance.Take.edge`.)

The lighting belongs to a camera (drawn per view); the rest to a take. Erosion and dilation hit
single frames: a whole take eroded the same way would be a systematic change of build, which
real segmentation errors are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gaitwave.data.synthgait.kinematics import Skeleton

SHADOW_WIDTH_M = 0.05
MORPH_PROBABILITY_MAX = 0.3  # per take: U(0, max) chance per frame of an erosion or dilation
MORPH_PIXELS = (1, 2, 3)  # how far (px at 320 x 240)
MORPH_PIXEL_PROBABILITIES = (0.6, 0.3, 0.1)
BAND_PROBABILITY_MAX = 0.1  # per take: U(0, max) chance per frame of a missing band
BLOB_RATE_MAX = 1.0  # per take: U(0, max) contour blobs per frame
EMPTY_PROBABILITY = 0.01
SHADOW_PROBABILITY = 0.3  # chance that a camera sees a foot shadow
SHADOW_LENGTH_M = (0.15, 0.45)
SHADOW_LENGTH_SPREAD = 0.2  # per take: the shadow's length x U(1 - spread, 1 + spread)


@dataclass(frozen=True)
class Lighting:
    """A camera's lighting: the foot shadow it sees (length 0: none)."""

    shadow_length: float  # m
    shadow_angle: float  # rad, direction of the shadow on the ground


@dataclass(frozen=True)
class Noise:
    """Per-take noise parameters (probabilities and rates per frame)."""

    morph_probability: float
    band_probability: float
    blob_rate: float  # mean number of contour blobs per frame
    empty_probability: float
    shadow_length: float  # m, 0 = no shadow
    shadow_angle: float  # rad


def draw_lighting(rng: np.random.Generator) -> Lighting:
    """The lighting of one camera."""
    has_shadow = rng.random() < SHADOW_PROBABILITY
    length = float(rng.uniform(*SHADOW_LENGTH_M)) if has_shadow else 0.0
    return Lighting(shadow_length=length, shadow_angle=float(rng.uniform(0, 2 * np.pi)))


def draw_noise(lighting: Lighting, rng: np.random.Generator) -> Noise:
    """The noise of one take under a camera's `lighting`."""
    spread = SHADOW_LENGTH_SPREAD
    return Noise(
        morph_probability=float(rng.uniform(0.0, MORPH_PROBABILITY_MAX)),
        band_probability=float(rng.uniform(0.0, BAND_PROBABILITY_MAX)),
        blob_rate=float(rng.uniform(0.0, BLOB_RATE_MAX)),
        empty_probability=EMPTY_PROBABILITY,
        shadow_length=lighting.shadow_length * float(rng.uniform(1 - spread, 1 + spread)),
        shadow_angle=lighting.shadow_angle,
    )


def shadow_solids(noise: Noise, skel: Skeleton) -> tuple[np.ndarray, ...]:
    """The feet's shadows on the ground, one group `[T, 2, 8, 3]` (none without a shadow)."""
    if noise.shadow_length <= 0:
        return ()
    direction = np.array([np.cos(noise.shadow_angle), np.sin(noise.shadow_angle), 0.0])
    side = np.array([-direction[1], direction[0], 0.0]) * SHADOW_WIDTH_M
    feet = []
    for k in (0, 1):
        ends = np.stack([skel.heel[k], skel.toe[k]], axis=1) * np.array([1.0, 1.0, 0.0])
        base = np.concatenate([ends + side, ends - side], axis=1)  # [T, 4, 3]
        feet.append(np.concatenate([base, base + noise.shadow_length * direction], axis=1))
    return (np.stack(feet, axis=1),)


def _blob(img: np.ndarray, y: int, rng: np.random.Generator) -> None:
    """Grow or bite a small disc at the left or right contour of row `y`."""
    columns = np.flatnonzero(img[y])
    if columns.size == 0:
        return
    x = int(columns[0] if rng.random() < 0.5 else columns[-1])
    colour = 255 if rng.random() < 0.7 else 0
    cv2.circle(img, (x, y), int(rng.integers(2, 6)), colour, -1)


def corrupt(frames: np.ndarray, bbox: np.ndarray, noise: Noise, rng: np.random.Generator) -> None:
    """Apply the take's noise to silhouettes `[T, H, W]` uint8 in place; `bbox` `[T, 4]` (px)."""
    t_count, height, width = frames.shape
    margin = max(MORPH_PIXELS) + 2
    x0 = np.clip(np.floor(bbox[:, 0]).astype(int) - margin, 0, width)
    y0 = np.clip(np.floor(bbox[:, 1]).astype(int) - margin, 0, height)
    x1 = np.clip(np.ceil(bbox[:, 2]).astype(int) + margin, 0, width)
    y1 = np.clip(np.ceil(bbox[:, 3]).astype(int) + margin, 0, height)
    morph = rng.random(t_count) < noise.morph_probability
    pixels = rng.choice(MORPH_PIXELS, size=t_count, p=MORPH_PIXEL_PROBABILITIES)
    dilate = rng.random(t_count) < 0.5
    empty = rng.random(t_count) < noise.empty_probability
    bands = rng.random(t_count) < noise.band_probability
    blobs = rng.poisson(noise.blob_rate, t_count)
    for t in range(t_count):
        img = frames[t]
        if empty[t]:
            img[:] = 0
            continue
        if y1[t] <= y0[t] or x1[t] <= x0[t]:
            continue
        if morph[t]:
            roi = img[y0[t] : y1[t], x0[t] : x1[t]]
            size = 2 * int(pixels[t]) + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
            roi[:] = (cv2.dilate if dilate[t] else cv2.erode)(roi, kernel)
        top, bottom = int(y0[t]), int(y1[t])
        if bands[t]:
            start = int(rng.integers(top, bottom))
            img[start : start + int(rng.integers(2, 11))] = 0
        for _ in range(blobs[t]):
            _blob(img, int(rng.integers(top, bottom)), rng)

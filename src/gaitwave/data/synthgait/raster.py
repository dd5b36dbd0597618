"""Rasterisation of a figure's primitives into binary 320 x 240 silhouettes.

The projection is vectorised over frames; per frame only the OpenCV calls remain. A capsule is its
two projected end circles joined by their outer tangents, one convex polygon computed with numpy
for all frames at once; a solid is the convex hull of its projected points. Every polygon is
filled on its own: one `cv2.fillPoly` over overlapping polygons would punch holes (even-odd
filling). Coordinates carry 4 fractional bits (`shift=4`), so slow motion moves the outline by
sub-pixel steps.
"""

from __future__ import annotations

import cv2
import numpy as np

from gaitwave.data.synthgait.camera import IMAGE_HEIGHT, IMAGE_WIDTH, Camera
from gaitwave.data.synthgait.figure import Figure

SHIFT = 4
SCALE = float(1 << SHIFT)
WHITE = 255
ARC_POINTS = 8  # outline points per capsule end


def capsule_outlines(
    c0: np.ndarray, c1: np.ndarray, r0: np.ndarray, r1: np.ndarray, arc_points: int = ARC_POINTS
) -> np.ndarray:
    """Convex outlines `[..., 2 * arc_points, 2]` of capsules: end circles with centres
    `[..., 2]` and radii `[...]` (px), joined by their outer tangents.

    The outline runs along the far arc of the first circle, then the far arc of the second; when
    one circle contains the other, it is that circle.
    """
    d = c1 - c0
    length = np.maximum(np.hypot(d[..., 0], d[..., 1]), 1e-6)
    theta = np.arctan2(d[..., 1], d[..., 0])
    beta = np.arcsin(np.clip((r0 - r1) / length, -1.0, 1.0))  # tangent tilt
    steps = np.linspace(0.0, 1.0, arc_points)
    start0 = theta + np.pi / 2 - beta  # first arc: around c0, away from c1
    angles0 = start0[..., None] + (np.pi + 2 * beta)[..., None] * steps
    start1 = theta - np.pi / 2 + beta  # second arc: around c1, away from c0
    angles1 = start1[..., None] + (np.pi - 2 * beta)[..., None] * steps
    arc0 = c0[..., None, :] + r0[..., None, None] * np.stack([np.cos(angles0), np.sin(angles0)], -1)
    arc1 = c1[..., None, :] + r1[..., None, None] * np.stack([np.cos(angles1), np.sin(angles1)], -1)
    return np.concatenate([arc0, arc1], axis=-2)


def project_figure(figure: Figure, camera: Camera) -> dict[str, np.ndarray]:
    """Pixel geometry of a figure: capsule outlines `[T, C, K, 2]`, solid points (each group
    `[T, G, n, 2]`) and each frame's bounding box `[T, 4]` (x0, y0, x1, y1, not clipped)."""
    c0, depth0 = camera.project(figure.starts)  # [T, C, 2], [T, C]
    c1, depth1 = camera.project(figure.ends)
    r0 = camera.focal * figure.radii[None, :, 0] / depth0
    r1 = camera.focal * figure.radii[None, :, 1] / depth1
    solids = [camera.project(group)[0] for group in figure.solids]  # [T, G, n, 2] each
    lows = [np.minimum(c0 - r0[..., None], c1 - r1[..., None]).min(axis=1)]
    highs = [np.maximum(c0 + r0[..., None], c1 + r1[..., None]).max(axis=1)]
    for group in solids:
        lows.append(group.min(axis=(1, 2)))
        highs.append(group.max(axis=(1, 2)))
    bbox = np.concatenate([np.min(np.stack(lows), axis=0), np.max(np.stack(highs), axis=0)], axis=1)
    return {"capsules": capsule_outlines(c0, c1, r0, r1), "solids": solids, "bbox": bbox}


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixels to int32 fixed point with SHIFT fractional bits."""
    return np.rint(points * SCALE).astype(np.int32)


def draw(geometry: dict[str, np.ndarray], out: np.ndarray) -> np.ndarray:
    """Fill the projected primitives into `out` `[T, H, W]` uint8 (zeros), in place; returns it."""
    capsules = _fixed(geometry["capsules"])  # [T, C, K, 2]
    solids = [_fixed(group) for group in geometry["solids"]]
    for t in range(out.shape[0]):
        img = out[t]
        for outline in capsules[t]:
            cv2.fillConvexPoly(img, outline, WHITE, cv2.LINE_8, SHIFT)
        for group in solids:
            for points in group[t]:
                cv2.fillConvexPoly(img, cv2.convexHull(points), WHITE, cv2.LINE_8, SHIFT)
    return out


def rasterise(figure: Figure, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Binary silhouettes `[T, 240, 320]` uint8 (0 / 255) and bounding boxes `[T, 4]` (px)."""
    geometry = project_figure(figure, camera)
    frames = np.zeros((figure.starts.shape[0], IMAGE_HEIGHT, IMAGE_WIDTH), np.uint8)
    return draw(geometry, frames), geometry["bbox"]

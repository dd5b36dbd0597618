"""A pinhole camera on a circle about 5 m from the walk, and the projection to 320 x 240 pixels.

Yaw = view: 0 deg looks at the walker's front (walking towards the camera), 90 deg is lateral,
180 deg looks at the back. The camera faces a fixed point of the walking line, so apparent view
and scale drift along the walk as in a real corridor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_WIDTH = 320
IMAGE_HEIGHT = 240
FOCAL_PX = 400.0


@dataclass(frozen=True)
class Camera:
    position: np.ndarray  # [3] m
    rotation: np.ndarray  # [3, 3] rows: image right, image down, optical axis (world frame)
    focal: float = FOCAL_PX
    centre: tuple[float, float] = (IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points `[..., 3]` (m) -> pixels `[..., 2]` (x right, y down), depth `[...]` (m)."""
        cam = (points - self.position) @ self.rotation.T
        depth = cam[..., 2]
        scale = self.focal / depth
        pixels = np.stack(
            [self.centre[0] + cam[..., 0] * scale, self.centre[1] + cam[..., 1] * scale], axis=-1
        )
        return pixels, depth


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation `[3, 3]` whose rows are image right, image down and the axis towards `target`."""
    forward = target - position
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def orbit_camera(
    view_deg: float, distance: float, height: float, target: np.ndarray, focal: float = FOCAL_PX
) -> Camera:
    """A camera `distance` m from `target` (on the ground) at yaw `view_deg`, `height` m high,
    looking at `target` (whose z sets the pitch). The walk goes along +y."""
    yaw = np.radians(view_deg)
    position = np.array(
        [target[0] + distance * np.sin(yaw), target[1] + distance * np.cos(yaw), height]
    )
    return Camera(position=position, rotation=look_at(position, target), focal=focal)

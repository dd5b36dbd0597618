"""The walker as drawable 3D primitives: tapered capsules and convex solids.

Limbs, neck and head are capsules (two spheres joined by a tapered cylinder). The torso is a stack
of elliptic slices (half-width != half-depth); each pair of consecutive slices is one convex solid,
so the torso's apparent width changes with the view. Bags, the coat's skirt and a foot shadow are
further convex solids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitwave.data.synthgait.body import Body
from gaitwave.data.synthgait.conditions import Condition, bag_shapes, skirt_points
from gaitwave.data.synthgait.kinematics import Skeleton

SLICE_POINTS = 10  # points per elliptic torso slice


@dataclass(frozen=True)
class Figure:
    """Primitives of one sequence: capsules `[T, C, 3]` ends with radii `[C, 2]` (m), and solids,
    each a group `[T, G, n, 3]` of G convex point sets drawn as filled hulls."""

    starts: np.ndarray
    ends: np.ndarray
    radii: np.ndarray
    solids: list[np.ndarray]


def torso_slices(skel: Skeleton, body: Body) -> np.ndarray:
    """Elliptic slice outlines `[T, S, SLICE_POINTS, 3]` around the trunk."""
    angle = 2 * np.pi * np.arange(SLICE_POINTS) / SLICE_POINTS
    yaw = skel.slice_yaw[:, :, None]  # [T, S, 1]
    half_w = np.asarray(body.slice_half_widths)[None, :, None] * np.cos(angle)  # [1, S, M]
    half_d = np.asarray(body.slice_half_depths)[None, :, None] * np.sin(angle)
    # lateral axis (cos yaw, sin yaw, 0), forward axis (-sin yaw, cos yaw, 0)
    x = half_w * np.cos(yaw) - half_d * np.sin(yaw)
    y = half_w * np.sin(yaw) + half_d * np.cos(yaw)
    offsets = np.stack([x, y, np.zeros_like(x)], axis=-1)
    return skel.slice_centres[:, :, None, :] + offsets


def build_figure(
    skel: Skeleton, body: Body, condition: Condition, extra_solids: tuple[np.ndarray, ...] = ()
) -> Figure:
    """Collect the capsules and solids of a dressed body (see `conditions.dress`) in a condition.

    `extra_solids` are further `[T, G, n, 3]` groups (e.g. a foot shadow).
    """
    capsules = []
    for side in (0, 1):
        capsules += [
            (skel.hip[side], skel.knee[side], body.thigh_radius),
            (skel.knee[side], skel.ankle[side], body.shank_radius),
            (skel.heel[side], skel.toe[side], body.foot_radius),
            (skel.shoulder[side], skel.elbow[side], body.upper_arm_radius),
            (skel.elbow[side], skel.wrist[side], body.forearm_radius),
            (skel.wrist[side], skel.hand[side], body.hand_radius),
        ]
    capsules.append((skel.neck_base, skel.head, (body.neck_radius, body.neck_radius)))
    head_axis = np.array([0.0, 0.0, 0.2 * body.head_radius])
    head = 0.82 * body.head_radius
    capsules.append((skel.head - head_axis, skel.head + head_axis, (head, head)))

    slices = torso_slices(skel, body)
    solids = [np.concatenate([slices[:, :-1], slices[:, 1:]], axis=2)]  # [T, S-1, 2M, 3]
    if condition.bag is not None:
        boxes, straps = bag_shapes(condition.bag, skel, body)
        solids += [box[:, None] for box in boxes]
        capsules += [(a, b, (ra, rb)) for a, b, ra, rb in straps]
    if condition.coat is not None:
        solids.append(skirt_points(condition.coat, skel, body)[:, None])
    solids += list(extra_solids)
    return Figure(
        starts=np.stack([c[0] for c in capsules], axis=1),
        ends=np.stack([c[1] for c in capsules], axis=1),
        radii=np.array([c[2] for c in capsules], dtype=float),
        solids=solids,
    )

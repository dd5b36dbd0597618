"""Walking conditions as in CASIA-B: `nm` normal, `bg` carrying a bag, `cl` wearing a coat.

A condition is drawn per walk (id and sequence type), so the 11 cameras see the same bag or coat,
and bg-01 / bg-02 (cl-01 / cl-02) differ. Bags: backpack (p = .5), shoulder bag (.3) or
hand-carried (.2), .15 to .28 m. Coat: torso x U(1.2, 1.5), thicker sleeves, a skirt from the hip
down U(.4, 1.0) of the way to the knee that hides the thigh gap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gaitwave.data.synthgait.body import Body
from gaitwave.data.synthgait.kinematics import Skeleton

BAG_KINDS = ("backpack", "shoulder", "hand")
BAG_PROBABILITIES = (0.5, 0.3, 0.2)
BAG_SIZE_M = (0.15, 0.28)
COAT_TORSO = (1.2, 1.5)
COAT_SLEEVE = (1.25, 1.5)
COAT_SKIRT = (0.4, 1.0)
# share of the coat's torso factor per torso slice (crotch, hips, waist, chest, shoulders, neck):
# the shoulders and collar widen half as much as the body of the coat
COAT_SLICE_SHARE = (1.0, 1.0, 1.0, 1.0, 0.5, 0.5)
STRAP_RADIUS_M = 0.012
CARRYING_ARM_SWING = 0.35  # arm swing left to the hand that carries a bag


@dataclass(frozen=True)
class Bag:
    kind: str  # one of BAG_KINDS
    size: float  # main dimension (m)
    side: float  # +1 right, -1 left (shoulder and hand bags)


@dataclass(frozen=True)
class Coat:
    torso: float  # torso width and depth factor
    sleeve: float  # arm radius factor
    skirt: float  # hem position between the hip (0) and the knee (1)


@dataclass(frozen=True)
class Condition:
    name: str  # "nm", "bg" or "cl"
    bag: Bag | None = None
    coat: Coat | None = None


def condition_name(seq_type: str) -> str:
    """`nm-01` -> `nm`; a type outside nm/bg/cl is an error naming it."""
    name = seq_type.split("-")[0]
    if name not in ("nm", "bg", "cl"):
        raise ValueError(f"sequence type {seq_type!r}: expected nm-XX, bg-XX or cl-XX")
    return name


def draw_condition(seq_type: str, rng: np.random.Generator) -> Condition:
    """The bag or coat of one walk of type `seq_type` (e.g. "bg-02")."""
    name = condition_name(seq_type)
    if name == "bg":
        kind = BAG_KINDS[int(rng.choice(len(BAG_KINDS), p=BAG_PROBABILITIES))]
        size = float(rng.uniform(*BAG_SIZE_M))
        side = 1.0 if rng.random() < 0.5 else -1.0
        return Condition(name, bag=Bag(kind, size, side))
    if name == "cl":
        coat = Coat(
            torso=float(rng.uniform(*COAT_TORSO)),
            sleeve=float(rng.uniform(*COAT_SLEEVE)),
            skirt=float(rng.uniform(*COAT_SKIRT)),
        )
        return Condition(name, coat=coat)
    return Condition(name)


def dress(body: Body, condition: Condition) -> Body:
    """The body as seen in this condition: a coat widens the torso and thickens the arms."""
    coat = condition.coat
    if coat is None:
        return body
    factors = np.asarray(COAT_SLICE_SHARE) * (coat.torso - 1.0) + 1.0
    return replace(
        body,
        slice_half_widths=tuple(np.multiply(body.slice_half_widths, factors).tolist()),
        slice_half_depths=tuple(np.multiply(body.slice_half_depths, factors).tolist()),
        upper_arm_radius=tuple(r * coat.sleeve for r in body.upper_arm_radius),
        forearm_radius=tuple(r * coat.sleeve for r in body.forearm_radius),
        neck_radius=body.neck_radius * (1.0 + 0.5 * (coat.torso - 1.0)),
    )


def arm_swing_scale(condition: Condition) -> tuple[float, float]:
    """Right and left arm swing factors: the hand that carries a bag hardly swings."""
    bag = condition.bag
    if bag is None or bag.kind != "hand":
        return (1.0, 1.0)
    return (CARRYING_ARM_SWING, 1.0) if bag.side > 0 else (1.0, CARRYING_ARM_SWING)


def _box(
    centre: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray], half: tuple[float, ...]
) -> np.ndarray:
    """Corners `[T, 8, 3]` of boxes with centres `[T, 3]`, unit axes `[T, 3]` and half extents."""
    signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
    offsets = sum(
        signs[None, :, i, None] * half[i] * axes[i][:, None, :] for i in range(3)
    )  # [T, 8, 3]
    return centre[:, None, :] + offsets


def _torso_axes(skel: Skeleton, slice_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Lateral and forward unit vectors `[T, 3]` of one torso slice."""
    yaw = skel.slice_yaw[:, slice_index]
    zero = np.zeros_like(yaw)
    lateral = np.stack([np.cos(yaw), np.sin(yaw), zero], axis=1)
    forward = np.stack([-np.sin(yaw), np.cos(yaw), zero], axis=1)
    return lateral, forward


def bag_shapes(
    bag: Bag, skel: Skeleton, body: Body
) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray, float, float]]]:
    """A bag's convex solids (each `[T, n, 3]`) and capsules (start, end `[T, 3]`, radii)."""
    s = bag.size
    chest, hips = 3, 1
    if bag.kind == "backpack":
        lateral, forward = _torso_axes(skel, chest)
        half = (0.6 * s, 0.8 * s, 0.35 * s)  # lateral, up, depth
        back = body.slice_half_depths[chest] + half[2] - 0.02  # resting on the back
        centre = skel.slice_centres[:, chest] - back * forward - 0.1 * s * skel.trunk_up
        return [_box(centre, (lateral, skel.trunk_up, forward), half)], []
    if bag.kind == "shoulder":
        lateral, forward = _torso_axes(skel, hips)
        half = (0.18 * s, 0.5 * s, 0.65 * s)  # thickness, up, length
        out = body.slice_half_widths[hips] + half[0] + 0.01
        swing = 0.03 * np.sin(4 * np.pi * skel.phase)[:, None]
        centre = (
            skel.slice_centres[:, hips]
            + bag.side * out * lateral
            + 0.05 * skel.trunk_up
            + swing * forward
        )
        shoulder = skel.shoulder[0 if bag.side > 0 else 1]
        top = centre + half[1] * skel.trunk_up
        strap = (shoulder, top, STRAP_RADIUS_M, STRAP_RADIUS_M)
        return [_box(centre, (lateral, skel.trunk_up, forward), half)], [strap]
    hand = skel.hand[0 if bag.side > 0 else 1]
    t = hand.shape[0]
    world = (
        np.tile([1.0, 0, 0], (t, 1)),
        np.tile([0, 0, 1.0], (t, 1)),
        np.tile([0, 1.0, 0], (t, 1)),
    )
    half = (0.15 * s, 0.5 * s, 0.7 * s)  # thickness, height, length
    centre = hand - np.array([0.0, 0.0, half[1] + 0.02])
    return [_box(centre, world, half)], []


def skirt_points(coat: Coat, skel: Skeleton, body: Body, n: int = 8) -> np.ndarray:
    """Points `[T, 2 n + 2 n, 3]` whose hull is the coat from the hips to the hem.

    The hull spans the hip slice and a ring around each thigh at the hem, so the gap between
    the thighs above the hem is filled.
    """
    angles = 2 * np.pi * np.arange(n) / n
    ring = np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], axis=1)  # [n, 3]
    lateral, forward = _torso_axes(skel, 1)
    hip_ring = (
        skel.slice_centres[:, 1, None, :]
        + body.slice_half_widths[1] * ring[None, :, 0, None] * lateral[:, None, :]
        + body.slice_half_depths[1] * ring[None, :, 1, None] * forward[:, None, :]
    )
    r0, r1 = body.thigh_radius
    hem_radius = (r0 + coat.skirt * (r1 - r0)) * coat.torso + 0.02
    hems = []
    for side in (0, 1):
        hem = skel.hip[side] + coat.skirt * (skel.knee[side] - skel.hip[side])
        hems.append(hem[:, None, :] + hem_radius * ring[None])
    return np.concatenate([hip_ring, *hems], axis=1)

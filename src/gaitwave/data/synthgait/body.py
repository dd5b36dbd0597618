"""A subject's body: segment lengths, widths and limb radii, drawn once per id (metres).

Segment lengths are Winter's anthropometric fractions of the standing height H, each times
(1 + N(0, 0.04)); widths and limb radii get a build factor ~ N(1, 0.12). Joint heights follow
from the lengths (ankle 0.039 H above the sole, hip = ankle + shank + thigh, shoulder 0.818 H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEAN_HEIGHT_M = {"female": 1.63, "male": 1.76}
HEIGHT_SD_M = 0.065
SEGMENT_SD = 0.04
BUILD_SD = 0.12

# Winter's segment lengths as fractions of the height.
SEGMENT_FRACTIONS = {
    "thigh": 0.245,
    "shank": 0.246,
    "foot": 0.152,
    "upper_arm": 0.186,
    "forearm": 0.146,
    "hand": 0.108,
    "shoulder_width": 0.259,
    "hip_width": 0.191,
}


@dataclass(frozen=True)
class Body:
    """One subject's body, all in metres.

    Lengths are joint to joint; `*_radius` are capsule radii at the segment's proximal and distal
    ends; torso slices are elliptic half-widths / half-depths at heights above the hip joint.
    """

    sex: str
    height: float
    thigh: float
    shank: float
    foot: float
    upper_arm: float
    forearm: float
    hand: float
    shoulder_width: float  # between the shoulder joints
    hip_width: float  # between the hip joints
    ankle_height: float
    trunk: float  # hip-joint centre to shoulder-joint line
    neck: float  # shoulder line to the head centre
    head_radius: float
    thigh_radius: tuple[float, float]
    shank_radius: tuple[float, float]
    foot_radius: tuple[float, float]
    upper_arm_radius: tuple[float, float]
    forearm_radius: tuple[float, float]
    hand_radius: tuple[float, float]
    neck_radius: float
    # torso slices: heights above the hip joint [S], half-widths [S], half-depths [S]
    slice_heights: tuple[float, ...]
    slice_half_widths: tuple[float, ...]
    slice_half_depths: tuple[float, ...]


def _segment_lengths(rng: np.random.Generator, height: float, female: bool) -> dict[str, float]:
    """Winter's `SEGMENT_FRACTIONS` of `height` (m), each times (1 + N(0, 0.04)) drawn from `rng`;
    a woman's shoulders relatively narrower and hips wider."""
    seg = {
        name: height * frac * (1.0 + SEGMENT_SD * float(rng.normal()))
        for name, frac in SEGMENT_FRACTIONS.items()
    }
    if female:
        seg["shoulder_width"] *= 0.95
        seg["hip_width"] *= 1.05
    return seg


def _torso_slices(
    h: float, hip_half: float, shoulder_half: float, wide: float, deep: float, female: bool
) -> tuple[tuple[float, float, float], ...]:
    """The torso's elliptic slices, bottom to top: `(height above the hip joint as a fraction of
    the trunk, half-width (m), half-depth (m))`. `h` is the height (m), `hip_half` /
    `shoulder_half` the half-widths (m) at the hips / shoulders, `wide` / `deep` scale the
    waist, chest and neck widths / all depths."""
    return (
        (-0.22, hip_half * 0.96, 0.070 * h * deep),  # crotch / buttocks
        (0.00, hip_half, 0.072 * h * deep),  # hip joints
        (0.35, 0.078 * h * wide * (0.93 if female else 1.0), 0.058 * h * deep),  # waist
        (0.65, 0.092 * h * wide, 0.068 * h * deep),  # chest
        (0.93, shoulder_half, 0.055 * h * deep),  # shoulders
        (1.08, 0.075 * h * wide, 0.045 * h * deep),  # base of the neck
    )


def draw_body(rng: np.random.Generator) -> Body:
    """Draw one subject's body from `rng` (sex, height, proportions, build)."""
    sex = "female" if rng.random() < 0.5 else "male"
    female = sex == "female"
    height = float(rng.normal(MEAN_HEIGHT_M[sex], HEIGHT_SD_M))
    seg = _segment_lengths(rng, height, female)
    build = 1.0 + BUILD_SD * float(rng.normal())
    build = float(np.clip(build, 0.7, 1.4))
    waist = 1.0 + 0.08 * float(rng.normal())  # waist and chest width relative to the frame
    depth = 1.0 + 0.08 * float(rng.normal())  # torso depth (front to back)
    head = 1.0 + 0.05 * float(rng.normal())
    h = height

    ankle_height = 0.039 * h
    hip_height = ankle_height + seg["shank"] + seg["thigh"]
    shoulder_height = 0.818 * h * (1.0 + 0.015 * float(rng.normal()))
    trunk = shoulder_height - hip_height
    head_radius = 0.062 * h * head
    neck = 0.935 * h - shoulder_height - 0.2 * head_radius

    thigh_r = (0.050 * h * build, 0.030 * h * build)
    shank_r = (0.031 * h * build, 0.019 * h * build)
    arm_r = (0.026 * h * build, 0.020 * h * build)
    fore_r = (0.020 * h * build, 0.015 * h * build)

    # Winter's hip and shoulder widths are outer breadths; the joints sit inside them
    hip_joints = seg["hip_width"] - 1.6 * thigh_r[0]
    shoulder_joints = seg["shoulder_width"] - 2.0 * arm_r[0]
    torso_build = 0.5 + 0.5 * build  # flesh widens the torso less than the limbs
    slices = _torso_slices(
        h,
        hip_half=seg["hip_width"] / 2.0,
        shoulder_half=shoulder_joints / 2.0 + 0.3 * arm_r[0],
        wide=torso_build * waist,
        deep=torso_build * depth * (1.04 if female else 1.0),
        female=female,
    )
    return Body(
        sex=sex,
        height=h,
        thigh=seg["thigh"],
        shank=seg["shank"],
        foot=seg["foot"],
        upper_arm=seg["upper_arm"],
        forearm=seg["forearm"],
        hand=seg["hand"],
        shoulder_width=shoulder_joints,
        hip_width=hip_joints,
        ankle_height=ankle_height,
        trunk=trunk,
        neck=neck,
        head_radius=head_radius,
        thigh_radius=thigh_r,
        shank_radius=shank_r,
        foot_radius=(0.020 * h * build, 0.014 * h * build),
        upper_arm_radius=arm_r,
        forearm_radius=fore_r,
        hand_radius=(0.016 * h * build, 0.011 * h * build),
        neck_radius=0.032 * h * torso_build,
        slice_heights=tuple(frac * trunk for frac, _, _ in slices),
        slice_half_widths=tuple(w for _, w, _ in slices),
        slice_half_depths=tuple(d for _, _, d in slices),
    )

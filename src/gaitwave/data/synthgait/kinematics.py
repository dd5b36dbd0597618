"""Forward kinematics of a walk, vectorised over all frames of a sequence.

Coordinates in metres: x lateral (the walker's right), y forward (walking direction), z up.
The pelvis moves forward at constant speed; its height is set per frame so that the lowest point
of either sole touches z = 0, which makes the vertical bob emerge from the leg angles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitwave.data.synthgait.body import Body
from gaitwave.data.synthgait.gait import GaitStyle, joint_angles

FPS = 25.0  # CASIA-B frame rate


@dataclass(frozen=True)
class Skeleton:
    """Joint positions of one walk, each `[T, 3]` (m) unless noted; `_r` / `_l` are the sides."""

    phase: np.ndarray  # [T] gait phase of the right leg (cycles)
    pelvis: np.ndarray
    hip: tuple[np.ndarray, np.ndarray]
    knee: tuple[np.ndarray, np.ndarray]
    ankle: tuple[np.ndarray, np.ndarray]
    heel: tuple[np.ndarray, np.ndarray]  # centre of the heel end of the foot capsule
    toe: tuple[np.ndarray, np.ndarray]  # centre of the toe end of the foot capsule
    shoulder: tuple[np.ndarray, np.ndarray]
    elbow: tuple[np.ndarray, np.ndarray]
    wrist: tuple[np.ndarray, np.ndarray]
    hand: tuple[np.ndarray, np.ndarray]  # fingertips
    neck_base: np.ndarray
    head: np.ndarray  # head centre
    slice_centres: np.ndarray  # [T, S, 3] torso slice centres
    slice_yaw: np.ndarray  # [T, S] torso slice yaw (rad)
    trunk_up: np.ndarray  # [T, 3] unit vector along the trunk


def _yaw(vectors: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotate `[T, 3]` vectors about z by `yaw` `[T]` (rad, counter-clockwise seen from above)."""
    c, s = np.cos(yaw), np.sin(yaw)
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    return np.stack([c * x - s * y, s * x + c * y, z], axis=1)


def _sagittal(angle_deg: np.ndarray, length: float) -> np.ndarray:
    """`[T, 3]` segment hanging down, swung forward by `angle_deg` `[T]` in the y-z plane."""
    a = np.radians(angle_deg)
    return length * np.stack([np.zeros_like(a), np.sin(a), -np.cos(a)], axis=1)


def _leg(
    body: Body, hip: np.ndarray, angles: np.ndarray, side: float, yaw: np.ndarray, style: GaitStyle
) -> dict[str, np.ndarray]:
    """One leg's joints from its hip `[T, 3]` and angles `[3, T]` (hip, knee, ankle in deg).

    `side` is +1 for the right leg, -1 for the left: the leg is adducted so that the feet land
    `step_width` apart, and the foot turned out by `toe_out`.
    """
    hip_a, knee_a, ankle_a = angles
    thigh = _sagittal(hip_a, body.thigh)
    shank = _sagittal(hip_a - knee_a, body.shank)
    toes_up = np.radians(hip_a - knee_a + ankle_a)
    direction = np.stack([np.zeros_like(toes_up), np.cos(toes_up), np.sin(toes_up)], axis=1)
    normal = np.stack([np.zeros_like(toes_up), -np.sin(toes_up), np.cos(toes_up)], axis=1)
    r_heel, r_toe = body.foot_radius
    heel = -0.22 * body.foot * direction + (r_heel - body.ankle_height) * normal
    toe = 0.70 * body.foot * direction + (r_toe - body.ankle_height) * normal
    heel_sole = heel - r_heel * normal
    toe_sole = toe - r_toe * normal

    leg_length = body.thigh + body.shank
    adduction = np.arcsin(np.clip((body.hip_width - style.step_width) / 2 / leg_length, -0.3, 0.3))
    ca, sa = np.cos(adduction), side * np.sin(adduction)
    turn = np.radians(style.toe_out) * -side
    ct, st = np.cos(turn), np.sin(turn)

    def place(offset: np.ndarray, foot: bool) -> np.ndarray:
        x, y, z = offset[:, 0], offset[:, 1], offset[:, 2]
        if foot:  # turn the foot out about the ankle's vertical axis
            x, y = ct * x - st * y, st * x + ct * y
        x, z = ca * x + sa * z, -sa * x + ca * z
        return _yaw(np.stack([x, y, z], axis=1), yaw)

    knee = hip + place(thigh, False)
    ankle = hip + place(thigh + shank, False)
    return {
        "knee": knee,
        "ankle": ankle,
        "heel": ankle + place(heel, True),
        "toe": ankle + place(toe, True),
        "sole_z": np.minimum(place(heel_sole, True)[:, 2], place(toe_sole, True)[:, 2])
        + ankle[:, 2],
    }


def _arm(
    body: Body,
    shoulder: np.ndarray,
    phase: np.ndarray,
    side: float,
    yaw: np.ndarray,
    style: GaitStyle,
    swing_scale: float,
) -> dict[str, np.ndarray]:
    """One arm's joints; it swings against the same-side leg (forward when that leg is back)."""
    cycle = 2 * np.pi * (phase - 0.5 - style.arm_lag)
    flexion = np.radians(style.arm_swing * swing_scale * np.cos(cycle) - 2.0)
    elbow_flex = np.radians(
        style.elbow_flexion + style.elbow_swing * swing_scale * 0.5 * (1 + np.cos(cycle))
    )
    abduction = np.radians(style.arm_abduction)

    def segment(angle: np.ndarray, length: float) -> np.ndarray:
        d = np.stack(
            [
                np.full_like(angle, side * np.sin(abduction)),
                np.sin(angle) * np.cos(abduction),
                -np.cos(angle) * np.cos(abduction),
            ],
            axis=1,
        )
        return _yaw(length * d, yaw)

    elbow = shoulder + segment(flexion, body.upper_arm)
    wrist = elbow + segment(flexion + elbow_flex, body.forearm)
    hand = wrist + segment(flexion + elbow_flex + np.radians(8.0), body.hand)
    return {"elbow": elbow, "wrist": wrist, "hand": hand}


def _pelvis_and_hips(
    body: Body, style: GaitStyle, phase: np.ndarray, forward: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Pelvis centre `[T, 3]` at z = 0 (m), the hip joints `[right, left]` (each `[T, 3]`, m) and
    the pelvis yaw `[T]` (rad), from the phase `[T]` (cycles) and the distance walked `[T]` (m).

    The pelvis sways sideways, rotates about z and tilts (obliquity) once per stride.
    """
    cycle = 2 * np.pi * phase
    pelvis_yaw = np.radians(style.pelvic_rotation) * np.cos(cycle)
    roll = np.radians(style.pelvic_obliquity) * np.sin(cycle)
    sway = style.sway * np.sin(cycle)
    pelvis = np.stack([sway, forward, np.zeros_like(forward)], axis=1)
    half_hip = body.hip_width / 2
    hips = []
    for side in (1.0, -1.0):
        offset = np.stack(
            [
                np.full_like(forward, side * half_hip),
                np.zeros_like(forward),
                side * half_hip * np.sin(roll),
            ],
            axis=1,
        )
        hips.append(pelvis + _yaw(offset, pelvis_yaw))
    return pelvis, hips, pelvis_yaw


def _ground_lift(legs: list[dict[str, np.ndarray]]) -> np.ndarray:
    """`[T, 3]` vertical shift (m) that puts the lower sole of the two legs on z = 0."""
    ground = np.minimum(legs[0]["sole_z"], legs[1]["sole_z"])
    zeros = np.zeros_like(ground)
    return np.stack([zeros, zeros, -ground], axis=1)


def _torso_slices(
    body: Body, pelvis: np.ndarray, up: np.ndarray, pelvis_yaw: np.ndarray, thorax_yaw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Torso slice centres `[T, S, 3]` (m) along the trunk direction `up` `[3]`, and their yaw
    `[T, S]` (rad): blended from the pelvis yaw at the hips to the thorax yaw at the shoulders."""
    heights = np.asarray(body.slice_heights)
    centres = pelvis[:, None, :] + heights[None, :, None] * up[None, None, :]
    blend = np.clip(heights / body.trunk, 0.0, 1.0)  # 0: moves with the pelvis, 1: thorax
    yaw = (1 - blend)[None, :] * pelvis_yaw[:, None] + blend[None, :] * thorax_yaw[:, None]
    return centres, yaw


def _shoulders_and_arms(
    body: Body,
    style: GaitStyle,
    shoulder_centre: np.ndarray,
    phase: np.ndarray,
    thorax_yaw: np.ndarray,
    arm_swing_scale: tuple[float, float],
) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
    """Shoulder joints `[right, left]` (each `[T, 3]`, m) about `shoulder_centre` `[T, 3]`, turned
    by `thorax_yaw` `[T]` (rad), and each arm's joints (`_arm`); the left arm is half a stride
    behind the right."""
    half_shoulder = body.shoulder_width / 2
    zeros = np.zeros_like(phase)
    shoulders, arms = [], []
    sides = ((1.0, phase, arm_swing_scale[0]), (-1.0, phase + 0.5, arm_swing_scale[1]))
    for side, phase_side, scale in sides:
        offset = np.stack([np.full_like(phase, side * half_shoulder), zeros, zeros], axis=1)
        shoulder = shoulder_centre + _yaw(offset, thorax_yaw)
        shoulders.append(shoulder)
        arms.append(_arm(body, shoulder, phase_side, side, thorax_yaw, style, scale))
    return shoulders, arms


def walk(
    body: Body,
    style: GaitStyle,
    start_phase: float,
    n_frames: int,
    arm_swing_scale: tuple[float, float] = (1.0, 1.0),
) -> Skeleton:
    """Joint positions for `n_frames` frames at 25 fps; the pelvis starts above y = 0.

    `arm_swing_scale` scales the right and left arm swing (a carried bag damps one arm).
    """
    t = np.arange(n_frames) / FPS
    strides_per_s = style.cadence / 120.0
    phase = start_phase + t * strides_per_s
    speed = style.stride_ratio * body.height * strides_per_s
    pelvis, hips, pelvis_yaw = _pelvis_and_hips(body, style, phase, speed * t)
    right = joint_angles(style.weights, phase)
    left = joint_angles(style.weights, phase + 0.5)
    legs = [
        _leg(body, hips[0], right, 1.0, pelvis_yaw, style),
        _leg(body, hips[1], left, -1.0, pelvis_yaw, style),
    ]
    lift = _ground_lift(legs)
    pelvis = pelvis + lift
    hips = [h + lift for h in hips]
    for leg in legs:
        for key in ("knee", "ankle", "heel", "toe"):
            leg[key] = leg[key] + lift

    lean = np.radians(style.lean)
    up = np.array([0.0, np.sin(lean), np.cos(lean)])
    thorax_yaw = -style.thorax_counter * pelvis_yaw
    slice_centres, slice_yaw = _torso_slices(body, pelvis, up, pelvis_yaw, thorax_yaw)
    shoulder_centre = pelvis + body.trunk * up
    shoulders, arms = _shoulders_and_arms(
        body, style, shoulder_centre, phase, thorax_yaw, arm_swing_scale
    )

    head_tilt = lean + np.radians(style.head_pitch) * 0.5
    neck_dir = np.array([0.0, np.sin(head_tilt), np.cos(head_tilt)])
    return Skeleton(
        phase=phase,
        pelvis=pelvis,
        hip=(hips[0], hips[1]),
        knee=(legs[0]["knee"], legs[1]["knee"]),
        ankle=(legs[0]["ankle"], legs[1]["ankle"]),
        heel=(legs[0]["heel"], legs[1]["heel"]),
        toe=(legs[0]["toe"], legs[1]["toe"]),
        shoulder=(shoulders[0], shoulders[1]),
        elbow=(arms[0]["elbow"], arms[1]["elbow"]),
        wrist=(arms[0]["wrist"], arms[1]["wrist"]),
        hand=(arms[0]["hand"], arms[1]["hand"]),
        neck_base=shoulder_centre + 0.02 * body.height * up,
        head=shoulder_centre + body.neck * neck_dir,
        slice_centres=slice_centres,
        slice_yaw=slice_yaw,
        trunk_up=np.broadcast_to(up, (n_frames, 3)).copy(),
    )

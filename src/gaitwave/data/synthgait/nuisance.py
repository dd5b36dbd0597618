"""What a sequence adds to its subject: within-subject variation of the walk and of the take.

A walk (id, sequence type) is seen by all 11 cameras: its gait is the subject's, with cadence
x N(1, .04), arm swing +-12 %, lean +-1 deg and every other parameter (joint-curve harmonics
included) jittered by 30 % of the between-subject spread. A take (id, type, view) is one camera's
recording: its length (0 and 180 deg runs are longer), start phase, camera distance, height and
aim, and whether the walker enters or leaves the picture during it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gaitwave.data.synthgait.gait import GaitStyle, jitter_gait

WALK_JITTER = 0.3  # within-subject spread as a fraction of the between-subject spread
CADENCE_SD = 0.04
ARM_SWING_RANGE = 0.12
LEAN_RANGE_DEG = 1.0
FRONTAL_EXTRA_LENGTH = 0.25  # 0 / 180 deg takes are this much longer than lateral ones
LENGTH_SPREAD = 0.15
MIN_FRAMES = 8
EDGE_PROBABILITY = 0.1  # chance each of entering / leaving the picture (oblique and side views)


def walk_style(subject: GaitStyle, rng: np.random.Generator) -> GaitStyle:
    """The subject's gait on one walk."""
    style = jitter_gait(subject, rng, WALK_JITTER)
    return replace(
        style,
        cadence=subject.cadence * (1.0 + CADENCE_SD * float(rng.standard_normal())),
        arm_swing=subject.arm_swing * float(rng.uniform(1 - ARM_SWING_RANGE, 1 + ARM_SWING_RANGE)),
        lean=subject.lean + float(rng.uniform(-LEAN_RANGE_DEG, LEAN_RANGE_DEG)),
    )


@dataclass(frozen=True)
class Take:
    """One camera's recording of a walk (lengths in m, angles in deg)."""

    n_frames: int
    start_phase: float  # gait phase at the first frame (cycles)
    yaw: float  # camera yaw: the view plus a small mounting error
    distance: float  # camera to the walking line
    height: float  # camera height
    aim_height: float  # height of the point the camera looks at (sets the pitch)
    offset: float  # where along the walk the camera aims, from the walk's middle
    edge: str  # "none", "enter" (the walker is cut by the frame edge at first) or "leave"


def take_length(nominal_frames: int, view: int, rng: np.random.Generator) -> int:
    """Frames in a take: `nominal_frames` on average over the 11 views, longer at 0 / 180 deg."""
    views = np.arange(0, 181, 18)
    mean_factor = np.mean(1 + FRONTAL_EXTRA_LENGTH * np.abs(np.cos(np.radians(views))))
    factor = (1 + FRONTAL_EXTRA_LENGTH * abs(np.cos(np.radians(view)))) / mean_factor
    spread = rng.uniform(1 - LENGTH_SPREAD, 1 + LENGTH_SPREAD)
    return max(MIN_FRAMES, round(nominal_frames * factor * spread))


def draw_take(view: int, nominal_frames: int, rng: np.random.Generator) -> Take:
    """One camera's take of a walk at `view` degrees."""
    n_frames = take_length(nominal_frames, view, rng)
    edge = "none"
    if abs(np.sin(np.radians(view))) >= 0.5:
        u = rng.random()
        if u < EDGE_PROBABILITY:
            edge = "enter"
        elif u < 2 * EDGE_PROBABILITY:
            edge = "leave"
    return Take(
        n_frames=n_frames,
        start_phase=float(rng.random()),
        yaw=view + float(rng.normal(0.0, 1.0)),
        distance=float(rng.normal(5.0, 0.1)),
        height=float(rng.normal(1.1, 0.08)),
        aim_height=float(rng.normal(0.9, 0.08)),
        offset=float(rng.normal(0.0, 0.2)),
        edge=edge,
    )

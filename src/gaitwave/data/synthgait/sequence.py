"""One sequence from its key (seed, id, type, view): subject, walk, take, condition, render, noise.

Every random draw comes from a generator keyed by the seed and the parts of the key that the draw
depends on, so any subset of a set regenerates bit-identically, in any order, in any process:
subject (seed, id), walk and condition (seed, id, type), a camera's lighting (seed, view), take
and noise (seed, id, type, view).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gaitwave.data.synthgait.body import Body, draw_body
from gaitwave.data.synthgait.camera import IMAGE_WIDTH, Camera, orbit_camera
from gaitwave.data.synthgait.conditions import arm_swing_scale, draw_condition, dress
from gaitwave.data.synthgait.figure import build_figure
from gaitwave.data.synthgait.gait import GaitStyle, draw_gait
from gaitwave.data.synthgait.kinematics import Skeleton, walk
from gaitwave.data.synthgait.noise import corrupt, draw_lighting, draw_noise, shadow_solids
from gaitwave.data.synthgait.nuisance import Take, draw_take, walk_style
from gaitwave.data.synthgait.raster import rasterise

TYPES = tuple(
    [f"nm-{i:02d}" for i in range(1, 7)] + ["bg-01", "bg-02", "cl-01", "cl-02"]
)  # CASIA-B sequence types
VIEWS = tuple(range(0, 181, 18))  # CASIA-B views (deg)

# Independent random streams, one per kind of draw.
STREAM_BODY, STREAM_GAIT, STREAM_WALK, STREAM_CONDITION, STREAM_TAKE, STREAM_NOISE = range(6)
STREAM_LIGHTING = 6


@dataclass(frozen=True)
class SequenceKey:
    seed: int
    subject: int  # 1-based id number
    type: str  # e.g. "nm-01"
    view: int  # degrees


def rng_for(seed: int, stream: int, *key: int) -> np.random.Generator:
    """A generator for one stream and key, independent of every other (stream, key)."""
    return np.random.default_rng([seed, stream, *key])


def type_index(seq_type: str) -> int:
    """Position of a CASIA-B type in TYPES; an unknown type is an error naming it."""
    if seq_type not in TYPES:
        raise ValueError(f"sequence type {seq_type!r} is not one of {', '.join(TYPES)}")
    return TYPES.index(seq_type)


@lru_cache(maxsize=256)
def subject(seed: int, subject_id: int) -> tuple[Body, GaitStyle]:
    """A subject's body and gait (cached: every sequence of an id uses them)."""
    return draw_body(rng_for(seed, STREAM_BODY, subject_id)), draw_gait(
        rng_for(seed, STREAM_GAIT, subject_id)
    )


def _edge_shift(camera: Camera, skel: Skeleton, take: Take, rng: np.random.Generator) -> float:
    """How far (m, along the walk) to move the camera's aim so that the walker's pelvis is at
    the picture's edge in the first ("enter") or last ("leave") frame."""
    first, last = skel.pelvis[0], skel.pelvis[-1]
    u_first, u_last = camera.project(np.stack([first, last]))[0][:, 0]
    direction = 1.0 if u_last >= u_first else -1.0
    point = first if take.edge == "enter" else last
    at_left_edge = (direction > 0) == (take.edge == "enter")
    inset = float(rng.uniform(-10.0, 25.0))
    target = inset if at_left_edge else IMAGE_WIDTH - inset
    shifts = np.linspace(-3.0, 3.0, 601)
    candidates = point[None, :] - shifts[:, None] * np.array([0.0, 1.0, 0.0])
    pixels, depth = camera.project(candidates)
    cost = np.abs(pixels[:, 0] - target) + np.where(depth > 1.5, 0.0, np.inf)
    return float(shifts[int(np.argmin(cost))])


def render_sequence(key: SequenceKey, nominal_frames: int) -> np.ndarray:
    """Silhouettes `[T, 240, 320]` uint8 (0 / 255) of one sequence, noise included."""
    t_index = type_index(key.type)
    body, style = subject(key.seed, key.subject)
    walk_key = (key.subject, t_index)
    take_key = (key.subject, t_index, key.view)
    style = walk_style(style, rng_for(key.seed, STREAM_WALK, *walk_key))
    condition = draw_condition(key.type, rng_for(key.seed, STREAM_CONDITION, *walk_key))
    take_rng = rng_for(key.seed, STREAM_TAKE, *take_key)
    take = draw_take(key.view, nominal_frames, take_rng)
    noise_rng = rng_for(key.seed, STREAM_NOISE, *take_key)
    noise = draw_noise(draw_lighting(rng_for(key.seed, STREAM_LIGHTING, key.view)), noise_rng)

    skel = walk(body, style, take.start_phase, take.n_frames, arm_swing_scale(condition))
    middle = skel.pelvis[take.n_frames // 2, 1] + take.offset
    aim = np.array([0.0, middle, take.aim_height])
    camera = orbit_camera(take.yaw, take.distance, take.height, aim)
    if take.edge != "none":
        aim[1] += _edge_shift(camera, skel, take, take_rng)
        camera = orbit_camera(take.yaw, take.distance, take.height, aim)
    figure = build_figure(skel, dress(body, condition), condition, shadow_solids(noise, skel))
    frames, bbox = rasterise(figure, camera)
    corrupt(frames, bbox, noise, noise_rng)
    return frames

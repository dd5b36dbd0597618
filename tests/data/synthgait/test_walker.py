"""The walker looks like a person walking: kinematics, views, coat, bags, capsule geometry.

Rendered without noise, from the generator's own parts, so each property is checked on its own.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gaitwave.data.synthgait.camera import orbit_camera
from gaitwave.data.synthgait.conditions import (
    Bag,
    Coat,
    Condition,
    arm_swing_scale,
    dress,
)
from gaitwave.data.synthgait.figure import build_figure
from gaitwave.data.synthgait.kinematics import walk
from gaitwave.data.synthgait.raster import capsule_outlines, rasterise
from gaitwave.data.synthgait.sequence import subject

SUBJECTS = (1, 2, 3)
CYCLE = 27  # frames in about one stride


def render(subject_id: int, condition: Condition, view: float, n_frames: int = CYCLE):
    body, style = subject(0, subject_id)
    skel = walk(body, style, 0.0, n_frames, arm_swing_scale(condition))
    aim = np.array([0.0, skel.pelvis[n_frames // 2, 1], 0.9])
    camera = orbit_camera(view, 5.0, 1.1, aim)
    frames, _ = rasterise(build_figure(skel, dress(body, condition), condition), camera)
    return frames, skel, camera, body


@pytest.mark.parametrize("subject_id", SUBJECTS)
def test_feet_stay_on_the_ground_and_the_pelvis_bobs(subject_id: int) -> None:
    body, style = subject(0, subject_id)
    skel = walk(body, style, 0.3, 2 * CYCLE)
    lowest = np.minimum.reduce(
        [skel.heel[k][:, 2] - body.foot_radius[0] for k in (0, 1)]
        + [skel.toe[k][:, 2] - body.foot_radius[1] for k in (0, 1)]
    )
    assert np.all(lowest > -0.03) and np.all(lowest < 0.005)
    bob = np.ptp(skel.pelvis[:, 2])
    assert 0.005 < bob < 0.1


@pytest.mark.parametrize("subject_id", SUBJECTS)
def test_legs_alternate_and_arms_swing_against_them(subject_id: int) -> None:
    body, style = subject(0, subject_id)
    skel = walk(body, style, 0.0, 2 * CYCLE)
    legs = skel.ankle[0][:, 1] - skel.ankle[1][:, 1]  # right foot ahead > 0
    arms = skel.wrist[0][:, 1] - skel.wrist[1][:, 1]
    assert np.count_nonzero(np.diff(np.sign(legs))) >= 3
    assert np.corrcoef(legs, arms)[0, 1] < -0.5


def test_frontal_view_is_narrower_than_lateral() -> None:
    def mean_width(subject_id: int, view: float) -> float:
        frames = render(subject_id, Condition("nm"), view)[0]
        return float(np.mean([np.count_nonzero(f.any(axis=0)) for f in frames]))

    widths = np.array([[mean_width(s, v) for v in (0, 90, 180)] for s in range(1, 6)])
    assert np.all(widths[:, 0] < widths[:, 1]) and np.all(widths[:, 2] < widths[:, 1])
    assert widths[:, 0].mean() < 0.85 * widths[:, 1].mean()


def _rows_between(camera, top: np.ndarray, bottom: np.ndarray) -> slice:
    (_, y_top), (_, y_bottom) = camera.project(np.stack([top, bottom]))[0]
    return slice(round(y_top), round(y_bottom) + 1)


@pytest.mark.parametrize("view", [0, 90])
def test_coat_widens_the_hips_and_hides_the_thigh_gap(view: float) -> None:
    coat = Condition("cl", coat=Coat(torso=1.3, sleeve=1.3, skirt=1.0))
    for subject_id in SUBJECTS:
        plain, skel, camera, _ = render(subject_id, Condition("nm"), view)
        coated = render(subject_id, coat, view)[0]
        t = int(np.argmax(np.abs(skel.knee[0][:, 1] - skel.knee[1][:, 1])))  # widest stride
        hips = _rows_between(camera, skel.pelvis[t], (skel.knee[0][t] + skel.knee[1][t]) / 2)
        assert coated[:, hips].sum(dtype=np.int64) > 1.05 * plain[:, hips].sum(dtype=np.int64)
        if view == 90:  # 3/4 of the way down the thighs: a gap between them, unless coated
            points = [skel.hip[k][t] + 0.75 * (skel.knee[k][t] - skel.hip[k][t]) for k in (0, 1)]
            (xa, ya), (xb, _) = camera.project(np.stack(points))[0]
            lo, hi = sorted((round(xa), round(xb)))
            row = round(ya)
            assert (plain[t, row, lo:hi] == 0).any()
            assert (coated[t, row, lo:hi] == 255).all()


@pytest.mark.parametrize("kind", ["backpack", "shoulder", "hand"])
def test_a_bag_adds_pixels(kind: str) -> None:
    bag = Condition("bg", bag=Bag(kind, size=0.25, side=1.0))
    for subject_id in SUBJECTS:
        with_bag = render(subject_id, bag, 90)[0]
        # the same walk without the bag (a hand-carried bag also damps the arm swing)
        body, style = subject(0, subject_id)
        skel = walk(body, style, 0.0, CYCLE, arm_swing_scale(bag))
        aim = np.array([0.0, skel.pelvis[CYCLE // 2, 1], 0.9])
        camera = orbit_camera(90, 5.0, 1.1, aim)
        plain = rasterise(build_figure(skel, body, Condition("nm")), camera)[0]
        assert np.all(with_bag >= plain)  # the bag only adds
        assert with_bag.sum() > 1.03 * plain.sum()


def test_capsule_outline_is_the_hull_of_its_end_circles() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        c0, c1 = rng.uniform(20, 80, 2), rng.uniform(20, 80, 2)
        r0, r1 = rng.uniform(1, 15, 2)
        outline = capsule_outlines(c0, c1, np.array(r0), np.array(r1))
        contour = outline.astype(np.float32).reshape(-1, 1, 2)
        hull = cv2.convexHull(contour)
        assert len(hull) == len(outline)  # convex: every point is a hull vertex
        on_circle = np.minimum(
            np.abs(np.linalg.norm(outline - c0, axis=1) - r0),
            np.abs(np.linalg.norm(outline - c1, axis=1) - r1),
        )
        assert on_circle.max() < 1e-6
        for centre, radius in ((c0, r0), (c1, r1)):
            for angle in np.linspace(0, 2 * np.pi, 12, endpoint=False):
                point = centre + 0.9 * radius * np.array([np.cos(angle), np.sin(angle)])
                assert cv2.pointPolygonTest(contour, tuple(map(float, point)), False) >= 0

"""Transforms: shape, dtype and range kept; one random draw per sequence."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gaitwave.data.transforms import (
    Compose,
    RandomAffine,
    RandomErasing,
    RandomHorizontalFlip,
    RandomPerspective,
    RandomRotation,
    Resize,
    rotation_matrix,
    warp_frames,
)


def sequence(frames: int = 6, height: int = 64, width: int = 44, seed: int = 0) -> np.ndarray:
    """Distinct frames, so a per-frame inconsistency shows."""
    rng = np.random.default_rng(seed)
    return (rng.random((frames, height, width)) > 0.5).astype(np.uint8) * 255


def test_resize_area_halves_by_block_means():
    frames = sequence()
    resized = Resize(32, 22)(frames)
    assert resized.shape == (6, 32, 22) and resized.dtype == np.uint8
    blocks = frames.reshape(6, 32, 2, 22, 2).astype(np.float64).mean(axis=(2, 4))
    assert np.abs(resized - blocks).max() <= 1


@pytest.mark.parametrize("interpolation", ["area", "bilinear"])
def test_resize_keeps_range(interpolation):
    resized = Resize(40, 30, interpolation)(sequence())
    assert resized.shape == (6, 40, 30) and resized.dtype == np.uint8
    full = Resize(40, 30, interpolation)(np.full((2, 64, 44), 255, np.uint8))
    assert np.all(full == 255)


def test_resize_to_the_same_size_is_identity():
    frames = sequence()
    assert Resize(64, 44)(frames) is frames


def test_flip_all_frames_or_none():
    frames = sequence()
    outcomes = set()
    for seed in range(40):
        out = RandomHorizontalFlip(0.5)(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == np.uint8
        flipped = [np.array_equal(o, f[:, ::-1]) for o, f in zip(out, frames, strict=True)]
        kept = [np.array_equal(o, f) for o, f in zip(out, frames, strict=True)]
        assert all(flipped) or all(kept)
        outcomes.add(all(flipped))
    assert outcomes == {True, False}
    always = RandomHorizontalFlip(1.0)(frames, np.random.default_rng(0))
    np.testing.assert_array_equal(always, frames[:, :, ::-1])


def test_erasing_one_box_in_every_frame():
    frames = np.full((5, 64, 44), 255, np.uint8)
    erasing = RandomErasing(p=1.0, area=(0.05, 0.2))
    for seed in range(30):
        out = erasing(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == np.uint8
        erased = out == 0
        assert np.all(erased == erased[0])  # the same pixels in every frame
        rows, cols = np.flatnonzero(erased[0].any(1)), np.flatnonzero(erased[0].any(0))
        box = erased[0][rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert box.all()  # a filled rectangle
        assert 0.04 <= box.size / (64 * 44) <= 0.22
    assert np.all(frames == 255)  # the input is untouched


def test_erasing_probability_zero_is_identity():
    frames = sequence()
    assert RandomErasing(p=0.0)(frames, np.random.default_rng(0)) is frames


def test_compose_applies_in_order_with_one_generator():
    frames = sequence()
    pipeline = Compose([RandomHorizontalFlip(1.0), Resize(32, 22)])
    expected = Resize(32, 22)(frames[:, :, ::-1])
    np.testing.assert_array_equal(pipeline(frames, np.random.default_rng(0)), expected)
    a = Compose([RandomHorizontalFlip(), RandomErasing()])(frames, np.random.default_rng(4))
    b = Compose([RandomHorizontalFlip(), RandomErasing()])(frames, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_bad_arguments():
    with pytest.raises(TypeError, match="not callable"):
        Compose([{"name": "flip"}])
    with pytest.raises(ValueError, match="probability"):
        RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError, match="area"):
        RandomErasing(area=(0.5, 0.1))
    with pytest.raises(ValueError, match="interpolation"):
        Resize(32, 22, "cubic")


WARPS = {
    "rotation": lambda p: RandomRotation(p=p),
    "perspective": lambda p: RandomPerspective(p=p),
    "affine": lambda p: RandomAffine(p=p),
}


def reference_warp(frame: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Bilinear inverse mapping in float64, zeros outside: `[H, W]` -> `[H, W]`."""
    height, width = frame.shape
    ys, xs = np.mgrid[0:height, 0:width]
    output = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    source = np.linalg.inv(matrix) @ output
    sx, sy = source[0] / source[2], source[1] / source[2]
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0

    def pixel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        return np.where(inside, frame[y.clip(0, height - 1), x.clip(0, width - 1)], 0.0)

    value = (
        (1 - fx) * (1 - fy) * pixel(x0, y0)
        + fx * (1 - fy) * pixel(x0 + 1, y0)
        + (1 - fx) * fy * pixel(x0, y0 + 1)
        + fx * fy * pixel(x0 + 1, y0 + 1)
    )
    return value.reshape(height, width)


def closed_form_rotation(x: float, y: float, angle: float, height: int, width: int):
    """Where (x, y) goes when the picture turns `angle` degrees counter-clockwise on screen."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    return cx + cos * (x - cx) + sin * (y - cy), cy - sin * (x - cx) + cos * (y - cy)


def bright_centre(frame: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted centre (x, y) of a frame."""
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    weights = frame.astype(np.float64)
    return (xs * weights).sum() / weights.sum(), (ys * weights).sum() / weights.sum()


def one_pixel(x: int, y: int, height: int = 64, width: int = 44) -> np.ndarray:
    frame = np.zeros((1, height, width), np.uint8)
    frame[0, y, x] = 255
    return frame


@pytest.mark.parametrize("name", WARPS)
def test_warp_keeps_shape_dtype_and_input(name):
    frames = sequence()
    before = frames.copy()
    for seed in range(5):
        out = WARPS[name](1.0)(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == np.uint8
        # bilinear: a binary silhouette gets levels in between
        assert len(np.unique(out)) > 2
        # no uint8 wrap-around: white stays white near the centre
        white = WARPS[name](1.0)(np.full((2, 64, 44), 255, np.uint8), np.random.default_rng(seed))
        assert white[:, 28:36, 18:26].min() == 255
    np.testing.assert_array_equal(frames, before)


@pytest.mark.parametrize("name", WARPS)
def test_warp_matches_a_float_bilinear_reference(name):
    frames = sequence(frames=3)
    warp = WARPS[name](1.0)
    for seed in range(5):
        matrix = warp.matrix(64, 44, np.random.default_rng(seed))
        out = warp_frames(frames, matrix)
        for frame, warped in zip(frames, out, strict=True):
            error = np.abs(warped - reference_warp(frame, matrix))
            # rounding to uint8 only (OpenCV's T-channel warp would be up to ~8 levels off)
            assert error.max() <= 1.0 and error.mean() < 0.3


@pytest.mark.parametrize("name", WARPS)
def test_warp_is_the_same_on_every_frame(name):
    frames = np.repeat(sequence(frames=1), 8, axis=0)
    for seed in range(5):
        out = WARPS[name](1.0)(frames, np.random.default_rng(seed))
        assert all(np.array_equal(frame, out[0]) for frame in out)
        assert not np.array_equal(out[0], frames[0])


@pytest.mark.parametrize("name", WARPS)
def test_warp_probability(name):
    frames = sequence()
    for seed in range(10):
        np.testing.assert_array_equal(WARPS[name](0.0)(frames, np.random.default_rng(seed)), frames)
        assert not np.array_equal(WARPS[name](1.0)(frames, np.random.default_rng(seed)), frames)
    applied = [
        not np.array_equal(WARPS[name](0.5)(frames, np.random.default_rng(seed)), frames)
        for seed in range(40)
    ]
    assert 5 < sum(applied) < 35


@pytest.mark.parametrize("name", WARPS)
def test_warp_is_deterministic_for_a_seed(name):
    frames = sequence()
    warp = WARPS[name](1.0)
    a = warp(frames, np.random.default_rng(7))
    np.testing.assert_array_equal(a, warp(frames, np.random.default_rng(7)))
    assert not np.array_equal(a, warp(frames, np.random.default_rng(8)))


def test_quarter_turn_moves_a_pixel_exactly():
    # the centre (21.5, 31.5) of a 64 x 44 frame maps the pixel grid onto itself at 90 degrees
    x, y = 30, 20
    out = warp_frames(one_pixel(x, y), rotation_matrix(90.0, 64, 44))
    expected_x, expected_y = closed_form_rotation(x, y, 90.0, 64, 44)
    assert (expected_x, expected_y) == (10.0, 23.0)  # up is left after a counter-clockwise turn
    assert out[0, 23, 10] == 255 and out.sum() == 255


@pytest.mark.parametrize("angle", [-30.0, 7.0, 45.0])
def test_known_rotation_moves_a_pixel_to_the_closed_form_place(angle):
    x, y = 33, 12
    out = warp_frames(one_pixel(x, y), rotation_matrix(angle, 64, 44))
    expected = closed_form_rotation(x, y, angle, 64, 44)
    # the centre of a bilinear splat sits within half a pixel of the exact position
    assert np.hypot(*np.subtract(bright_centre(out[0]), expected)) < 0.5


def test_random_rotation_stays_within_degrees():
    x, y = 40, 10
    cx, cy = 21.5, 31.5
    angles = []
    for seed in range(30):
        out = RandomRotation(p=1.0, degrees=10.0)(one_pixel(x, y), np.random.default_rng(seed))
        moved_x, moved_y = bright_centre(out[0])
        radius = np.hypot(moved_x - cx, moved_y - cy)
        assert radius == pytest.approx(np.hypot(x - cx, y - cy), abs=0.5)  # see above
        turn = np.arctan2(-(moved_y - cy), moved_x - cx) - np.arctan2(-(y - cy), x - cx)
        angles.append(np.rad2deg(turn))
    assert max(np.abs(angles)) <= 11.0  # 10 degrees + half a pixel at radius 28
    assert min(angles) < -3 and max(angles) > 3  # both directions


def test_perspective_moves_corners_inwards_within_distortion():
    height, width = 64, 44
    corners = np.array([[0, 0], [43, 0], [43, 63], [0, 63]], np.float64)
    inwards = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    moves = []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        matrix = RandomPerspective(distortion=0.2).matrix(height, width, rng)
        mapped = matrix @ np.column_stack([corners, np.ones(4)]).T
        mapped = (mapped[:2] / mapped[2]).T
        move = (mapped - corners) * inwards  # positive = inwards
        assert np.all(move >= -1e-6)
        assert np.all(move <= 0.2 * np.array([43 / 2, 63 / 2]) + 1e-6)
        moves.append(move)
    assert np.max(moves) > 0.15 * 63 / 2  # the full range is used
    np.testing.assert_allclose(
        RandomPerspective(distortion=0.0).matrix(height, width, np.random.default_rng(0)),
        np.eye(3),
        atol=1e-9,
    )


def test_affine_parameters_stay_in_range():
    height, width = 64, 44
    centre = np.array([21.5, 31.5, 1.0])
    warp = RandomAffine(degrees=10.0, translate=0.1, scale=(0.9, 1.1), shear=5.0)
    for seed in range(30):
        matrix = warp.matrix(height, width, np.random.default_rng(seed))
        np.testing.assert_allclose(matrix[2], [0, 0, 1])
        # rotation and shear keep areas: the determinant is the zoom squared
        assert 0.9**2 - 1e-9 <= np.linalg.det(matrix[:2, :2]) <= 1.1**2 + 1e-9
        shift = matrix @ centre - centre
        assert abs(shift[0]) <= 0.1 * width + 1e-9 and abs(shift[1]) <= 0.1 * height + 1e-9


def test_affine_zoom_about_the_centre():
    zoom = RandomAffine(p=1.0, degrees=0.0, translate=0.0, scale=(2.0, 2.0), shear=0.0)
    frames = np.zeros((2, 64, 44), np.uint8)
    frames[:, 33, 24] = 255  # (x, y) = (24, 33): 2.5 right of and 1.5 below the centre
    out = zoom(frames, np.random.default_rng(0))
    assert np.hypot(*np.subtract(bright_centre(out[0]), (21.5 + 5.0, 31.5 + 3.0))) < 1e-6
    still = RandomAffine(p=1.0, degrees=0.0, translate=0.0, scale=(1.0, 1.0), shear=0.0)
    np.testing.assert_array_equal(still(sequence(), np.random.default_rng(0)), sequence())


def test_warps_accept_flipped_views_and_configs():
    frames = sequence()
    flipped = RandomHorizontalFlip(1.0)(frames, np.random.default_rng(0))  # a view
    out = RandomRotation(1.0)(flipped, np.random.default_rng(3))
    copied = RandomRotation(1.0)(flipped.copy(), np.random.default_rng(3))
    np.testing.assert_array_equal(out, copied)
    config = OmegaConf.create(
        {"_target_": "gaitwave.data.transforms.RandomAffine", "p": 1, "scale": [0.8, 1.2]}
    )
    affine = instantiate(config)
    assert affine.scale == (0.8, 1.2)
    assert affine(frames, np.random.default_rng(0)).shape == frames.shape


def test_warp_reprs():
    assert repr(RandomRotation()) == "RandomRotation(p=0.5, degrees=10.0)"
    assert repr(RandomPerspective(p=1)) == "RandomPerspective(p=1.0, distortion=0.2)"
    assert repr(RandomAffine()) == (
        "RandomAffine(p=0.5, degrees=10.0, translate=0.1, scale=(0.9, 1.1), shear=5.0)"
    )


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: RandomRotation(p=-0.1), "p="),
        (lambda: RandomRotation(degrees=-5), "degrees"),
        (lambda: RandomRotation(degrees=270), "degrees"),
        (lambda: RandomPerspective(distortion=1.5), "distortion"),
        (lambda: RandomAffine(degrees=181), "degrees"),
        (lambda: RandomAffine(translate=-0.1), "translate"),
        (lambda: RandomAffine(scale=(1.1, 0.9)), "scale"),
        (lambda: RandomAffine(scale=(0.0, 1.0)), "scale"),
        (lambda: RandomAffine(scale=(0.9,)), "scale"),
        (lambda: RandomAffine(shear=60), "shear"),
        (lambda: RandomAffine(shear=float("nan")), "shear"),
    ],
)
def test_warp_bad_arguments(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()

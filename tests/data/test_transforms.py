"""Transforms: shape, dtype and range kept; one random draw per sequence."""

from __future__ import annotations

import numpy as np
import pytest

from gaitwave.data.transforms import Compose, RandomErasing, RandomHorizontalFlip, Resize


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

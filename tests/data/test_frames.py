"""FrameSampler: length, range, order and repetition properties of each mode."""

from __future__ import annotations

import numpy as np
import pytest

from gaitwave.data.frames import FrameSampler


def rngs(count: int = 50):
    return (np.random.default_rng(seed) for seed in range(count))


def test_fixed_unordered_long_sequence_no_repeats():
    sampler = FrameSampler("fixed_unordered", frames=30)
    orders = []
    for rng in rngs():
        indices = sampler.indices(100, rng)
        assert len(indices) == 30 and len(set(indices.tolist())) == 30
        assert indices.min() >= 0 and indices.max() < 100
        orders.append(bool(np.all(np.diff(indices) > 0)))
    assert not any(orders)  # random order, not sorted


def test_fixed_unordered_short_sequence_repeats():
    sampler = FrameSampler("fixed_unordered", frames=30)
    for rng in rngs():
        indices = sampler.indices(7, rng)
        assert len(indices) == 30 and set(indices.tolist()) <= set(range(7))


@pytest.mark.parametrize("skip", [0, 4])
def test_fixed_ordered_window(skip):
    sampler = FrameSampler("fixed_ordered", frames=30, skip=skip)
    starts = set()
    for rng in rngs():
        indices = sampler.indices(100, rng)
        assert len(indices) == 30
        assert np.all(np.diff(indices) > 0)  # in order, no repeats
        assert indices[-1] - indices[0] < 30 + skip  # inside one window
        assert indices.min() >= 0 and indices.max() < 100
        starts.add(int(indices[0]))
    assert len(starts) > 10  # the window moves


def test_fixed_ordered_exact_window_keeps_consecutive_frames():
    indices = FrameSampler("fixed_ordered", frames=30).indices(100, np.random.default_rng(0))
    np.testing.assert_array_equal(indices, np.arange(indices[0], indices[0] + 30))


def test_fixed_ordered_short_sequence_walks_cyclically():
    sampler = FrameSampler("fixed_ordered", frames=30)
    for rng in rngs():
        indices = sampler.indices(7, rng)
        assert len(indices) == 30
        assert np.all((np.diff(indices) % 7) == 1)  # next frame, wrapping to the start


@pytest.mark.parametrize("mode", ["unfixed_unordered", "unfixed_ordered"])
def test_unfixed_lengths_come_from_the_range(mode):
    sampler = FrameSampler(mode, frames_range=(20, 25))
    lengths = []
    for rng in rngs(200):
        count = sampler.clip_length(rng)
        indices = sampler.indices(100, rng, count)
        assert len(indices) == count
        if mode == "unfixed_ordered":
            assert np.all(np.diff(indices) > 0)
        lengths.append(count)
    assert set(lengths) == set(range(20, 26))


def test_unfixed_needs_a_range():
    with pytest.raises(ValueError, match="frames_range"):
        FrameSampler("unfixed_ordered")
    with pytest.raises(ValueError, match="min <= max"):
        FrameSampler("unfixed_ordered", frames_range=(10, 5))


@pytest.mark.parametrize(("length", "cap"), [(50, 720), (800, 720), (5, 3)])
def test_all_ordered_is_every_frame_up_to_the_cap(length, cap):
    sampler = FrameSampler("all_ordered", cap=cap)
    assert sampler.clip_length(np.random.default_rng(0)) is None
    np.testing.assert_array_equal(sampler.indices(length, None), np.arange(min(length, cap)))


@pytest.mark.parametrize("mode", ["fixed_unordered", "fixed_ordered"])
def test_deterministic_given_the_generator(mode):
    sampler = FrameSampler(mode, frames=10, skip=2)
    a = sampler.indices(40, np.random.default_rng(7))
    b = sampler.indices(40, np.random.default_rng(7))
    c = sampler.indices(40, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_mode():
    with pytest.raises(ValueError, match="not one of"):
        FrameSampler("random")

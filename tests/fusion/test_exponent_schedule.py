"""exponent_at: the table of docs/MATH.md section 2, ranges and errors."""

from __future__ import annotations

import itertools
import math

import pytest

from gaitwave.fusion.exponent import exponent_at

TABLE = {  # (l_min, l_max) = (-1, 1), C = 4, at t / T = 0, 1/8, ..., 1 (docs/MATH.md section 2)
    "abs": [-1, 0.41, 1, 0.41, -1, 0.41, 1, 0.41, -1],
    "affine": [0, 0.71, 1, 0.71, 0, -0.71, -1, -0.71, 0],
    "literal": [1, 2.41, 3, 2.41, 1, -0.41, -1, -0.41, 1],
}


@pytest.mark.parametrize("mode", sorted(TABLE))
@pytest.mark.parametrize("total_steps", [8, 800])
def test_table_values(mode: str, total_steps: int) -> None:
    steps = [k * total_steps // 8 for k in range(9)]
    values = [exponent_at(t, total_steps, -1.0, 1.0, cycles=4, mode=mode) for t in steps]
    assert values == pytest.approx(TABLE[mode], abs=0.005)


def test_abs_is_the_default_mode() -> None:
    assert exponent_at(100, 800, -1.0, 1.0) == exponent_at(100, 800, -1.0, 1.0, 4, "abs")


def test_static_returns_its_value_at_every_step() -> None:
    values = {exponent_at(t, 100, -1.0, 1.0, mode="static", value=0.7) for t in range(0, 150, 7)}
    assert values == {0.7}


@pytest.mark.parametrize("mode", ["abs", "affine"])
@pytest.mark.parametrize(("l_min", "l_max", "cycles"), [(-1, 1, 4), (-1, 0, 3), (0.5, 3, 7)])
def test_abs_and_affine_stay_in_range_and_reach_both_ends(mode, l_min, l_max, cycles) -> None:
    values = [exponent_at(t, 1000, l_min, l_max, cycles, mode) for t in range(1001)]
    assert min(values) >= l_min - 1e-12 and max(values) <= l_max + 1e-12
    assert min(values) == pytest.approx(l_min, abs=1e-4)
    assert max(values) == pytest.approx(l_max, abs=1e-4)


def test_literal_leaves_the_range_as_printed() -> None:
    values = [exponent_at(t, 1000, -1.0, 1.0, cycles=1, mode="literal") for t in range(1001)]
    assert min(values) == pytest.approx(1.0) and max(values) == pytest.approx(3.0)


def test_abs_with_one_cycle_rises_from_l_min_to_l_max() -> None:
    values = [exponent_at(t, 100, -1.0, 0.0, cycles=1) for t in range(101)]
    assert values[0] == -1.0 and math.isclose(values[-1], 0.0, abs_tol=1e-12)
    assert all(b >= a for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sine"}, "mode must be one of"),
        ({"total_steps": 0}, "total_steps must be > 0"),
        ({"total_steps": -1}, "total_steps must be > 0"),
        ({"step": -1}, "step must be >= 0"),
        ({"cycles": 0}, "cycles must be > 0"),
        ({"l_min": 1.0, "l_max": -1.0}, "l_min"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    arguments = {"step": 0, "total_steps": 10, "l_min": -1.0, "l_max": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        exponent_at(**arguments)

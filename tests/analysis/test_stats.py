"""Seed statistics: exact t quantiles, sample std, paired differences and their intervals."""

from __future__ import annotations

import math

import pytest

from gaitwave.analysis.stats import (
    EXCEEDS_NOISE,
    NO_PAIRS,
    TOO_FEW_PAIRS,
    WITHIN_NOISE,
    paired_difference,
    summarize,
    t_quantile,
    t_two_sided_mass,
)

# t_{0.975, df} from printed Student t tables
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 30: 2.042, 100: 1.984}


@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_t_quantile_matches_the_printed_table(df: int) -> None:
    assert t_quantile(0.975, df) == pytest.approx(T_TABLE[df], abs=5e-4)


def test_t_quantile_other_levels_and_closed_forms() -> None:
    # df = 2 has the closed form t = (2p - 1) sqrt(2 / (1 - (2p - 1)^2))
    for p in (0.9, 0.95, 0.975, 0.995):
        mass = 2 * p - 1
        assert t_quantile(p, 2) == pytest.approx(mass * math.sqrt(2 / (1 - mass**2)), rel=1e-9)
    assert t_quantile(0.995, 4) == pytest.approx(4.604, abs=5e-4)
    # df = 1 is Cauchy: t = tan(pi (p - 1/2))
    assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4), rel=1e-9)
    # large df tends to the normal quantile 1.95996
    assert 1.95996 < t_quantile(0.975, 10_000) < 1.9603


def test_t_two_sided_mass_edges_and_bad_input() -> None:
    assert t_two_sided_mass(0.0, 7) == 0.0
    assert t_two_sided_mass(-2.0, 5) == t_two_sided_mass(2.0, 5)
    assert t_two_sided_mass(1e9, 6) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive integer"):
        t_two_sided_mass(1.0, 0)
    with pytest.raises(ValueError, match=r"0\.5 < p < 1"):
        t_quantile(0.3, 4)


def test_summarize_uses_the_sample_std() -> None:
    summary = summarize([70.0, 72.0, 74.0])
    assert (summary.mean, summary.std, summary.n) == (72.0, 2.0, 3)  # ddof = 0 would be 1.633
    one = summarize([55.5])
    assert (one.mean, one.std, one.n) == (55.5, None, 1)
    assert summarize([]) is None


def test_paired_difference_pairs_by_seed() -> None:
    baseline = {0: 70.0, 1: 72.0, 2: 74.0, 5: 99.0}
    row = {2: 76.0, 0: 71.0, 1: 75.0, 7: 10.0}  # seeds 5 and 7 have no partner
    diff = paired_difference(row, baseline)
    # differences 1, 3, 2: mean 2, sd 1, half width t_{0.975,2} * 1 / sqrt(3)
    half = 4.302653 / math.sqrt(3)
    assert diff.n == 3
    assert diff.mean == pytest.approx(2.0)
    assert diff.low == pytest.approx(2.0 - half, abs=1e-6)
    assert diff.high == pytest.approx(2.0 + half, abs=1e-6)
    assert diff.verdict == WITHIN_NOISE


def test_paired_difference_verdicts() -> None:
    exceeds = paired_difference({0: 68.0, 1: 70.0, 2: 71.0}, {0: 70.0, 1: 72.0, 2: 74.0})
    assert exceeds.mean == pytest.approx(-7 / 3)
    assert exceeds.high == pytest.approx(-7 / 3 + 4.302653 * math.sqrt(1 / 3) / math.sqrt(3))
    assert exceeds.verdict == EXCEEDS_NOISE
    one = paired_difference({0: 71.0, 1: 60.0}, {0: 70.0})
    assert (one.mean, one.low, one.high, one.n, one.verdict) == (1.0, None, None, 1, TOO_FEW_PAIRS)
    none = paired_difference({3: 71.0}, {0: 70.0})
    assert (none.mean, none.n, none.verdict) == (None, 0, NO_PAIRS)
    # identical differences: a zero-width interval away from 0 exceeds the noise
    constant = paired_difference({0: 71.0, 1: 73.0}, {0: 70.0, 1: 72.0})
    assert (constant.low, constant.high, constant.verdict) == (1.0, 1.0, EXCEEDS_NOISE)

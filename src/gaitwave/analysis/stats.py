"""Seed statistics: mean and sample std over seeds, paired differences with a Student t interval.

The t quantile is exact for integer degrees of freedom: the two-sided Student t mass
``P(|T| <= t)`` has a closed form as a finite sum (Abramowitz & Stegun 26.7.3 and 26.7.4), and
the quantile is found by bisection on it. No scipy needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WITHIN_NOISE = "within seed noise"
EXCEEDS_NOISE = "exceeds seed noise"
TOO_FEW_PAIRS = "n too small for an interval"
NO_PAIRS = "no seed in common with the baseline"


def t_two_sided_mass(t: float, df: int) -> float:
    """``P(|T| <= t)`` for Student's t with ``df`` (a positive integer) degrees of freedom."""
    if not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    theta = math.atan(abs(t) / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    # the finite series 1 + a_1 cos^2 + a_2 cos^4 + ..., ratios (k-1)/k over k of df's parity
    series, term = 1.0, 1.0
    for k in range(3 if df % 2 else 2, df - 1, 2):
        term *= (k - 1) / k * cos2
        series += term
    if df % 2 == 0:
        return sin * series
    if df == 1:
        return 2.0 * theta / math.pi
    return 2.0 / math.pi * (theta + sin * math.cos(theta) * series)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (``0.5 < p < 1``) of Student's t with ``df`` degrees of freedom
    (``t_quantile(0.975, 4) = 2.776``): bisection on :func:`t_two_sided_mass`."""
    if not 0.5 < p < 1.0:
        raise ValueError(f"t_quantile needs 0.5 < p < 1, got {p}")
    mass = 2.0 * p - 1.0
    low, high = 0.0, 1.0
    while t_two_sided_mass(high, df) < mass:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        low, high = (middle, high) if t_two_sided_mass(middle, df) < mass else (low, middle)
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof = 1; None for one value) of ``n`` values."""

    mean: float
    std: float | None
    n: int


def summarize(values: Sequence[float]) -> Summary | None:
    """The :class:`Summary` of ``values``; None when there are none."""
    n = len(values)
    if n == 0:
        return None
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return Summary(mean=mean, std=std, n=n)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``row - baseline`` over ``n`` seeds both have, and its 95 % t interval
    (``low``, ``high``; None below two pairs). ``mean`` is None without any pair."""

    mean: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def verdict(self) -> str:
        if self.n == 0:
            return NO_PAIRS
        if self.low is None or self.high is None:
            return TOO_FEW_PAIRS
        return WITHIN_NOISE if self.low <= 0.0 <= self.high else EXCEEDS_NOISE


def paired_difference(
    values: Mapping[int, float], baseline: Mapping[int, float], confidence: float = 0.95
) -> PairedDifference:
    """Differences ``values[s] - baseline[s]`` over the seeds ``s`` in both (seed -> metric),
    their mean and its ``confidence`` interval ``mean +- t_{(1+c)/2, n-1} * sd / sqrt(n)``."""
    diffs = [values[seed] - baseline[seed] for seed in sorted(values) if seed in baseline]
    summary = summarize(diffs)
    if summary is None:
        return PairedDifference(mean=None, low=None, high=None, n=0)
    if summary.std is None:
        return PairedDifference(mean=summary.mean, low=None, high=None, n=1)
    half = t_quantile((1.0 + confidence) / 2.0, summary.n - 1) * summary.std / math.sqrt(summary.n)
    return PairedDifference(summary.mean, summary.mean - half, summary.mean + half, summary.n)

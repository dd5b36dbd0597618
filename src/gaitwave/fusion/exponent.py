"""Schedules of the Waveloss exponent l (MATH.md section 2, the Dynamic Learning Process)."""

from __future__ import annotations

import math

MODES = ("abs", "affine", "literal", "static")


def exponent_at(
    step: int,
    total_steps: int,
    l_min: float,
    l_max: float,
    cycles: float = 4,
    mode: str = "abs",
    value: float = 0.0,
) -> float:
    """The exponent l at a 0-based optimisation step.

    With `s = sin(pi * cycles * step / (2 * total_steps))`:

    - "abs" (default): `l_min + (l_max - l_min) * |s|`, within `[l_min, l_max]`;
    - "affine": `l_min + (l_max - l_min) * (s + 1) / 2`, within `[l_min, l_max]`;
    - "literal": the paper's printed `(l_max - l_min) * s - l_min` (leaves the range);
    - "static": `value`, whatever the step.

    Args:
        step: the 0-based global step t (>= 0).
        total_steps: the total number of steps T (> 0).
        l_min, l_max: the range, `l_min <= l_max`.
        cycles: C, the number of half-waves of `|s|` over training (> 0, default 4).
        mode: one of "abs", "affine", "literal", "static".
        value: the exponent of the "static" mode.
    """
    if mode not in MODES:
        raise ValueError(f"exponent_at: mode must be one of {MODES}, got {mode!r}.")
    if total_steps <= 0:
        raise ValueError(
            f"exponent_at: total_steps must be > 0, got {total_steps}; set trainer.max_steps "
            "(or max_epochs) so the schedule knows the length of training."
        )
    if step < 0:
        raise ValueError(f"exponent_at: step must be >= 0, got {step}.")
    if mode == "static":
        return float(value)
    if cycles <= 0:
        raise ValueError(f"exponent_at: cycles must be > 0, got {cycles}.")
    if l_min > l_max:
        raise ValueError(f"exponent_at: l_min ({l_min}) must be <= l_max ({l_max}).")
    wave = math.sin(math.pi * cycles * step / (2 * total_steps))
    if mode == "abs":
        return l_min + (l_max - l_min) * abs(wave)
    if mode == "affine":
        return l_min + (l_max - l_min) * (wave + 1) / 2
    return (l_max - l_min) * wave - l_min

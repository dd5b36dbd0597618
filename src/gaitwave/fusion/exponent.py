"""Schedules of the Waveloss exponent l (docs/MATH.md section 2, the Dynamic Learning Process)."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
        cycles: the paper's C (> 0, default 4). It counts quarter periods of the sine: in
            "abs" mode C = 4 gives two full swings l_min -> l_max -> l_min.
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


@dataclass(frozen=True)
class ExponentSchedule:
    """The exponent l of a `NormFusion` over training: `schedule(step, total_steps) -> l`.

    `conf/fusion/schedule/dynamic.yaml` is the paper's Dynamic Learning Process (mode "abs" over
    [-1, 1], C = 4); `static.yaml` a constant l (`mode="static"`, `value`). See `exponent_at`.

    Args:
        mode: "abs" (default), "affine", "literal" or "static".
        l_min, l_max: the range, `l_min <= l_max` (unused by "static").
        cycles: the paper's C, quarter periods of the sine over training (> 0).
        value: the constant l of the "static" mode (required there, refused elsewhere).
    """

    mode: str = "abs"
    l_min: float = -1.0
    l_max: float = 1.0
    cycles: float = 4
    value: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"schedule mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "static" and self.value is None:
            raise ValueError("a static schedule needs its exponent: set `value` (e.g. value=1)")
        if self.mode != "static" and self.value is not None:
            raise ValueError(
                f"`value` ({self.value}) is the exponent of mode=static only; mode={self.mode!r} "
                "moves l between l_min and l_max"
            )
        if self.mode != "static" and self.l_min > self.l_max:
            raise ValueError(
                f"l_min ({self.l_min}) must be <= l_max ({self.l_max}); for a constant exponent "
                "use the static schedule (fusion/schedule=static fusion.schedule.value=...)"
            )
        if self.cycles <= 0:
            raise ValueError(f"cycles (the paper's C) must be > 0, got {self.cycles}")

    def __call__(self, step: int, total_steps: int) -> float:
        """l at the 0-based optimisation `step` of `total_steps`."""
        value = 0.0 if self.value is None else self.value
        return exponent_at(step, total_steps, self.l_min, self.l_max, self.cycles, self.mode, value)

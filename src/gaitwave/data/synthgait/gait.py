"""A subject's way of walking: joint-angle curves and the scalars of the gait, drawn once per id.

Hip, knee and ankle sagittal angles (degrees, flexion / dorsiflexion positive) are 4-harmonic
Fourier series of the gait phase (0 = right heel strike, one stride per unit), around normative
templates: hip +28 at heel strike, about -10 at mid-cycle; knee 18 loading peak, 62 swing peak
near 72 %; ankle +10 dorsiflexion late in stance, -18 at toe-off. Each subject changes every
harmonic's amplitude and phase a little; identity is many such small cues, none sufficient alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

HARMONICS = 4
JOINTS = ("hip", "knee", "ankle")

# Normative sagittal curves: (percent of the gait cycle, degrees), periodic.
TEMPLATE_KEYPOINTS = {
    "hip": [(0, 28), (12, 25), (30, 12), (50, -8), (56, -10), (64, -3), (76, 18), (87, 30)],
    "knee": [(0, 4), (14, 18), (32, 8), (42, 5), (54, 14), (62, 38), (72, 62), (82, 48), (94, 8)],
    "ankle": [(0, 0), (7, -5), (20, 4), (44, 10), (54, 2), (62, -18), (70, -10), (82, 1)],
}

# Between-subject spread of the joint curves: per-harmonic relative amplitude, phase (rad),
# and the constant term (deg).
AMPLITUDE_SD = 0.12
PHASE_SD = 0.15
OFFSET_SD = 3.0


def _template_weights(keypoints: list[tuple[float, float]]) -> np.ndarray:
    """Complex weights `[HARMONICS + 1]` of a periodic piecewise-linear curve's low harmonics."""
    samples = 360
    phase = np.arange(samples) / samples
    pct = np.array([p for p, _ in keypoints] + [keypoints[0][0] + 100]) / 100.0
    deg = np.array([d for _, d in keypoints] + [keypoints[0][1]])
    curve = np.interp(phase, pct, deg)
    spectrum = np.fft.rfft(curve) / samples
    weights = spectrum[: HARMONICS + 1].copy()
    weights[1:] *= 2.0  # curve = Re(sum_k w_k exp(2 pi i k phase))
    return np.conj(weights)  # numpy's rfft uses exp(-i...); store for exp(+i...)


TEMPLATE_WEIGHTS = np.stack([_template_weights(TEMPLATE_KEYPOINTS[j]) for j in JOINTS])


def joint_angles(weights: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Fourier curves: weights `[J, HARMONICS + 1]` complex, phase `[T]` -> degrees `[J, T]`."""
    k = np.arange(HARMONICS + 1)
    basis = np.exp(2j * np.pi * phase[:, None] * k[None, :])  # [T, K]
    return (weights @ basis.T).real


def perturb_weights(weights: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Scale each harmonic's amplitude and shift its phase by `scale` times the subject spread."""
    out = weights.copy()
    shape = (weights.shape[0], HARMONICS)
    amplitude = 1.0 + scale * AMPLITUDE_SD * rng.standard_normal(shape)
    phase = scale * PHASE_SD * rng.standard_normal(shape)
    out[:, 1:] *= amplitude * np.exp(1j * phase)
    out[:, 0] += scale * OFFSET_SD * rng.standard_normal(weights.shape[0])
    return out


@dataclass(frozen=True)
class GaitStyle:
    """How one subject walks (angles in degrees, lengths in metres, cadence in steps/min)."""

    weights: np.ndarray  # [3, HARMONICS + 1] complex: hip, knee, ankle curves
    cadence: float
    stride_ratio: float  # stride length / height
    arm_swing: float  # shoulder flexion amplitude
    arm_lag: float  # arm-swing delay behind the opposite leg (gait cycles)
    arm_abduction: float
    elbow_flexion: float  # mean elbow flexion
    elbow_swing: float  # extra elbow flexion at the forward end of the swing
    lean: float  # trunk forward lean
    pelvic_rotation: float  # yaw amplitude
    pelvic_obliquity: float  # roll amplitude
    thorax_counter: float  # thorax yaw as a fraction of the pelvis yaw, opposite sign
    sway: float  # lateral sway amplitude of the pelvis
    toe_out: float
    step_width: float
    head_pitch: float  # head forward tilt


# Between-subject spread of the scalar gait parameters: name -> (mean, sd, low, high).
SCALAR_SPREAD = {
    "cadence": (110.0, 7.0, 85.0, 135.0),
    "stride_ratio": (0.83, 0.04, 0.7, 0.95),
    "arm_swing": (16.0, 5.0, 3.0, 32.0),
    "arm_lag": (0.03, 0.02, -0.03, 0.1),
    "arm_abduction": (6.0, 2.0, 2.0, 11.0),
    "elbow_flexion": (18.0, 6.0, 3.0, 40.0),
    "elbow_swing": (12.0, 4.0, 0.0, 25.0),
    "lean": (4.0, 2.0, -1.0, 10.0),
    "pelvic_rotation": (5.0, 1.5, 1.0, 10.0),
    "pelvic_obliquity": (4.0, 1.2, 1.0, 8.0),
    "thorax_counter": (0.7, 0.2, 0.1, 1.3),
    "sway": (0.025, 0.007, 0.008, 0.045),
    "toe_out": (7.0, 3.0, -2.0, 16.0),
    "step_width": (0.10, 0.025, 0.04, 0.18),
    "head_pitch": (5.0, 4.0, -5.0, 18.0),
}


def draw_gait(rng: np.random.Generator) -> GaitStyle:
    """Draw one subject's gait from `rng`: perturbed joint curves and scalar parameters."""
    weights = perturb_weights(TEMPLATE_WEIGHTS, rng, scale=1.0)
    scalars = {
        name: float(np.clip(rng.normal(mean, sd), low, high))
        for name, (mean, sd, low, high) in SCALAR_SPREAD.items()
    }
    return GaitStyle(weights=weights, **scalars)


def jitter_gait(style: GaitStyle, rng: np.random.Generator, scale: float) -> GaitStyle:
    """The same subject on another walk: every parameter moved by `scale` times its spread."""
    changes = {
        name: float(np.clip(getattr(style, name) + scale * sd * rng.standard_normal(), low, high))
        for name, (_, sd, low, high) in SCALAR_SPREAD.items()
    }
    return replace(style, weights=perturb_weights(style.weights, rng, scale), **changes)

"""The paper's Figures 3 and 4: loss value and |dL/dp| of one part against its p(s_i).

Part 1 of a P-part loss vector is swept over p = p(s_1) = exp(-F_1) in (0, 1] while the other
parts keep fixed losses; every point is `gaitwave.fusion.NormFusion(...).reduce(F)` evaluated in
float64, with p as the autograd leaf (F_1 = -log p), so `dL/dp = -(dL/dF_1) / p` comes from
autograd, never from a re-typed formula (docs/MATH.md sections 1 and 5).

Three variants of norm-fusion, for l in {-1, 0, 1, 2, 3}:

- `no_normalization`: truncation on, `m = 1` (Fig. 3 a, 4 a: value and gradient move with l);
- `no_truncation`: normalisation on, the weights keep their gradient (Fig. 4 b);
- `waveloss`: both on, the Waveloss (Fig. 3 b, 4 c).

`write_figures` saves `figure3_value.png` (value), `figure4_gradient.png` (|dL/dp|, log scale),
one panel per variant, and `curves.csv` with every plotted number.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from gaitwave.fusion import NormFusion

EXPONENTS: tuple[float, ...] = (-1.0, 0.0, 1.0, 2.0, 3.0)
OTHER_LOSSES: tuple[float, ...] = (1.0, 2.0, 3.0)  # F of parts 2..P, fixed; P = 4
P_GRID: np.ndarray = np.linspace(0.01, 1.0, 199)  # p(s_1), step 0.005


@dataclass(frozen=True)
class Variant:
    """One setting of the two NormFusion switches."""

    name: str
    title: str
    truncate: bool
    normalize: bool


VARIANTS: tuple[Variant, ...] = (
    Variant("no_normalization", "(a) without normalisation", truncate=True, normalize=False),
    Variant("no_truncation", "(b) without truncation", truncate=False, normalize=True),
    Variant(
        "waveloss", "(c) Waveloss: truncation and normalisation", truncate=True, normalize=True
    ),
)


@dataclass(frozen=True)
class Curves:
    """Curves of part 1 on a p grid `[K]` for exponents `[E]`.

    `values[name]` and `grads[name]` are `[E, K]` arrays per variant name: the fused loss and the
    signed `dL/dp` (the figures plot its absolute value).
    """

    p: np.ndarray
    exponents: tuple[float, ...]
    other_losses: tuple[float, ...]
    variants: tuple[Variant, ...]
    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]


def part_curve(
    p: Sequence[float] | np.ndarray,
    exponent: float,
    other_losses: Sequence[float] = OTHER_LOSSES,
    *,
    truncate: bool = True,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss value `[K]` and `dL/dp` `[K]` of NormFusion with F = [-log p_k, *other_losses].

    Args:
        p: p(s_1) values `[K]`, each in (0, 1].
        exponent: l.
        other_losses: F of the other parts `[P - 1]` (non-negative, at least one).
        truncate, normalize: the NormFusion switches (docs/MATH.md section 5).
    """
    p_values = np.asarray(p, dtype=np.float64).reshape(-1)
    if p_values.size == 0 or not np.all((p_values > 0.0) & (p_values <= 1.0)):
        raise ValueError(f"part_curve: every p must lie in (0, 1], got {p_values}")
    others = torch.as_tensor(other_losses, dtype=torch.float64).reshape(-1)
    if others.numel() == 0 or not bool(torch.all(others >= 0.0)):
        raise ValueError(
            f"part_curve: other_losses must be one or more losses >= 0, got {list(other_losses)}"
        )
    fusion = NormFusion(exponent=exponent, truncate=truncate, normalize=normalize)
    p_leaf = torch.tensor(p_values, dtype=torch.float64, requires_grad=True)
    part_loss = -torch.log(p_leaf)  # F_1 = -log p(s_1)  [K]
    values = torch.stack([fusion.reduce(torch.cat([f.reshape(1), others])) for f in part_loss])
    # each value depends on its own p_k only, so the gradient of the sum is dL/dp per point
    (grads,) = torch.autograd.grad(values.sum(), p_leaf)
    return values.detach().numpy(), grads.numpy()


def loss_curves(
    p: Sequence[float] | np.ndarray = P_GRID,
    exponents: Sequence[float] = EXPONENTS,
    other_losses: Sequence[float] = OTHER_LOSSES,
    variants: Sequence[Variant] = VARIANTS,
) -> Curves:
    """Value and `dL/dp` curves of part 1 for every exponent and variant."""
    values: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    for variant in variants:
        rows = [
            part_curve(p, l, other_losses, truncate=variant.truncate, normalize=variant.normalize)
            for l in exponents
        ]
        values[variant.name] = np.stack([value for value, _ in rows])
        grads[variant.name] = np.stack([grad for _, grad in rows])
    return Curves(
        p=np.asarray(p, dtype=np.float64).reshape(-1),
        exponents=tuple(float(l) for l in exponents),
        other_losses=tuple(float(f) for f in other_losses),
        variants=tuple(variants),
        values=values,
        grads=grads,
    )


def setup_caption(curves: Curves) -> str:
    """One line describing the setup shared by both figures."""
    others = ", ".join(f"{f:g}" for f in curves.other_losses)
    return (
        f"Part 1 of P = {len(curves.other_losses) + 1} parts, p(s_1) = exp(-F_1); the other parts "
        f"fixed at F = {others}. NormFusion.reduce in float64, dL/dp by autograd with p as leaf."
    )


def _draw(curves: Curves, data: dict[str, np.ndarray], ylabel: str, caption: str) -> Figure:
    count = len(curves.variants)
    figure = Figure(figsize=(5.0 * count, 4.6), layout="constrained")
    axes = figure.subplots(1, count, squeeze=False)[0]
    for axis, variant in zip(axes, curves.variants, strict=True):
        for exponent, curve in zip(curves.exponents, data[variant.name], strict=True):
            axis.plot(curves.p, curve, label=f"l = {exponent:g}")
        axis.set_title(variant.title)
        axis.set_xlabel("p(s_1)")
        axis.set_ylabel(ylabel)
        axis.set_xlim(0.0, 1.0)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(caption, fontsize=9)
    return figure


def plot_values(curves: Curves) -> Figure:
    """Figure 3: the fused loss against p(s_1), one panel per variant."""
    caption = (
        "Figure 3: loss value. " + setup_caption(curves) + "\nWith normalisation the value is "
        "mean(F) for every l (the curves coincide); truncation does not change the value."
    )
    return _draw(curves, curves.values, "L", caption)


def plot_gradients(curves: Curves) -> Figure:
    """Figure 4: |dL/dp(s_1)| against p(s_1) on a log scale, one panel per variant."""
    caption = (
        "Figure 4: gradient magnitude |dL/dp(s_1)| (log scale). " + setup_caption(curves) + "\n"
        "Without truncation the gradient changes sign for large l (the dips are zeros)."
    )
    magnitudes = {name: np.abs(grad) for name, grad in curves.grads.items()}
    figure = _draw(curves, magnitudes, "|dL/dp(s_1)|", caption)
    for axis in figure.axes:
        axis.set_yscale("log")
    return figure


def write_csv(curves: Curves, path: Path) -> Path:
    """Write `variant, truncate, normalize, l, p, F, value, dL_dp` rows (long format)."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "truncate", "normalize", "l", "p", "F", "value", "dL_dp"])
        for variant in curves.variants:
            for row, exponent in enumerate(curves.exponents):
                for p, value, grad in zip(
                    curves.p,
                    curves.values[variant.name][row],
                    curves.grads[variant.name][row],
                    strict=True,
                ):
                    writer.writerow(
                        [variant.name, variant.truncate, variant.normalize, f"{exponent:g}"]
                        + [f"{x:.10g}" for x in (p, -np.log(p), value, grad)]
                    )
    return Path(path)


def write_figures(out_dir: Path, curves: Curves | None = None) -> dict[str, Path]:
    """Compute the curves (default setup unless given) and write the PNGs and the CSV.

    Returns the paths under keys `value` (figure3_value.png), `gradient` (figure4_gradient.png)
    and `csv` (curves.csv).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = loss_curves() if curves is None else curves
    paths = {
        "value": out_dir / "figure3_value.png",
        "gradient": out_dir / "figure4_gradient.png",
        "csv": out_dir / "curves.csv",
    }
    plot_values(curves).savefig(paths["value"], dpi=150)
    plot_gradients(curves).savefig(paths["gradient"], dpi=150)
    write_csv(curves, paths["csv"])
    return paths

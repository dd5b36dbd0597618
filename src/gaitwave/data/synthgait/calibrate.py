"""Calibration: GEI + Euclidean nearest neighbour under the CASIA-B protocol on a generated set.

The gait energy image (GEI) of a sequence is the mean of its frames as the loaders give them
(64 x 44 after the width cut), used as an embedding `[N, 64 * 44, 1]`. The protocol itself is
`gaitwave.evaluation.view_matrices(..., protocol="casiab")`; here only the summary: same-view
rank-1 is the mean of the diagonal, cross-view the per-probe-view mean over the other gallery
views, then the mean over probe views. Targets (docs/SYNTHGAIT.md, "Calibration"): NM
same-view 90..99, CL < BG < NM same-view, NM cross-view <= 50, CL cross-view rank-1 lowest at
0 / 180 deg and highest near 90 deg.
Synthetic numbers: not CASIA-B numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from gaitwave.data.index import PARTITION_FILE
from gaitwave.data.synthgait.writers import PARAMETERS_FILE, read_sequence
from gaitwave.evaluation import ViewMatrix, per_view_means, view_matrices

CONDITIONS = ("NM", "BG", "CL")
NM_SAME_VIEW_RANGE = (90.0, 99.0)
NM_CROSS_VIEW_MAX = 50.0


def gei(frames: np.ndarray) -> np.ndarray:
    """Gait energy image `[H * W]` float32 in [0, 1] of uint8 frames `[T, H, W]`."""
    return (frames.astype(np.float32).mean(axis=0) / 255.0).ravel()


def load_test_geis(root: Path) -> tuple[torch.Tensor, list[str], list[str], list[str]]:
    """GEIs of the test split: embeddings `[N, H * W, 1]` and the ids, types, views per row."""
    partition = root / PARTITION_FILE
    if not partition.is_file():
        raise FileNotFoundError(
            f"{partition} is missing: generate the set first (gaitwave-synth root={root})"
        )
    test_ids = json.loads(partition.read_text())["TEST_SET"]
    rows, ids, types, views = [], [], [], []
    for subject in test_ids:
        for type_dir in sorted((root / subject).iterdir()):
            for view_dir in sorted(type_dir.iterdir()):
                frames = read_sequence(view_dir, view_dir.name)
                if len(frames) == 0:
                    continue
                rows.append(gei(frames))
                ids.append(subject)
                types.append(type_dir.name)
                views.append(view_dir.name)
    if not rows:
        raise ValueError(f"{root}: no test sequence found for the ids in {partition}")
    emb = torch.from_numpy(np.stack(rows))[:, :, None]
    return emb, ids, types, views


def gei_view_matrices(root: Path | str) -> dict[str, ViewMatrix]:
    """CASIA-B view matrices (rank-1 and mAP per probe view x gallery view) of GEI-NN."""
    emb, ids, types, views = load_test_geis(Path(root))
    return view_matrices(emb, ids, types, views, protocol="casiab", metric="euc")


def summarise(matrices: dict[str, ViewMatrix]) -> dict[str, float]:
    """Rank-1 (%) per condition `c`: `c/same`, `c/cross`, and per probe view `c/same@<view>`,
    `c/cross@<view>`. Same-view: the diagonal; cross-view: the other gallery views."""
    summary: dict[str, float] = {}
    for condition, matrix in matrices.items():
        same = np.diag(matrix.rank1)
        cross, _ = per_view_means(matrix, exclude_identical_views=True)
        summary[f"{condition}/same"] = float(np.nanmean(same))
        summary[f"{condition}/cross"] = float(np.nanmean(cross))
        for view, s, c in zip(matrix.views, same, cross, strict=True):
            summary[f"{condition}/same@{view}"] = float(s)
            summary[f"{condition}/cross@{view}"] = float(c)
    return summary


def target_report(summary: dict[str, float]) -> list[tuple[str, bool]]:
    """Each calibration target with whether `summary` meets it."""
    nm, bg, cl = (summary.get(f"{c}/same", float("nan")) for c in CONDITIONS)
    views = sorted(k.split("@")[1] for k in summary if k.startswith("CL/cross@"))
    cl_view = {v: summary[f"CL/cross@{v}"] for v in views}
    nm_cross = summary.get("NM/cross", float("nan"))
    low, high = NM_SAME_VIEW_RANGE
    checks = [
        (f"NM same-view in {low:.0f}..{high:.0f}", low <= nm <= high),
        ("same-view CL < BG < NM", cl < bg < nm),
        (f"NM cross-view <= {NM_CROSS_VIEW_MAX:.0f}", nm_cross <= NM_CROSS_VIEW_MAX),
    ]
    if {"000", "090", "180"} <= cl_view.keys():
        lowest = min(cl_view, key=cl_view.get)
        highest = max(cl_view, key=cl_view.get)
        checks.append(("CL cross-view lowest at 000 / 180", lowest in ("000", "180")))
        checks.append(("CL cross-view highest near 090", 54 <= int(highest) <= 126))
    return checks


def calibration_table(summary: dict[str, float], title: str = "GEI-NN, synthetic data"):
    """A rich table: same-view and cross-view rank-1 per condition, and per probe view."""
    from rich.table import Table

    views = sorted({k.split("@")[1] for k in summary if "@" in k})
    table = Table(title=f"SynthGait calibration: {title} (rank-1 %, not CASIA-B numbers)")
    table.add_column("rank-1")
    for view in views:
        table.add_column(view, justify="right")
    table.add_column("mean", justify="right")
    for condition in CONDITIONS:
        for kind in ("same", "cross"):
            key = f"{condition}/{kind}"
            if key not in summary:
                continue
            per_view = [f"{summary[f'{key}@{v}']:.1f}" for v in views]
            table.add_row(f"{condition} {kind}-view", *per_view, f"{summary[key]:.1f}")
    return table


def calibrate(root: Path | str, console=None) -> dict[str, float]:
    """Print the calibration table of a generated set and whether each target holds."""
    from rich.console import Console

    console = console or Console()
    root = Path(root)
    summary = summarise(gei_view_matrices(root))
    parameters = root / PARAMETERS_FILE
    title = "GEI-NN, synthetic data"
    if parameters.is_file():
        p = json.loads(parameters.read_text())
        title += f", preset={p.get('preset')} seed={p.get('seed')} frames={p.get('frames')}"
    console.print(calibration_table(summary, title))
    for name, ok in target_report(summary):
        console.print(f"  {'[green]met[/green]' if ok else '[red]MISSED[/red]'}  {name}")
    return summary

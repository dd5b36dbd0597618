"""Run folders written by hand, as gaitwave-train leaves them, for the report tests.

``fusion_sweep`` is a multirun of 3 rows x 3 seeds plus one failed and one unfinished job, with
``mean/rank1`` per (row, seed) in ``MEAN_RANK1``; each condition is ``mean/rank1`` plus an offset
(NM +20, BG +10, CL -30), so the condition means are the same means shifted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

MEAN_RANK1 = {
    ("post", 0): 70.0,
    ("post", 1): 72.0,
    ("post", 2): 74.0,
    ("norm", 0): 71.0,
    ("norm", 1): 75.0,
    ("norm", 2): 76.0,
    ("pre", 0): 68.0,
    ("pre", 1): 70.0,
    ("pre", 2): 71.0,
}
CONDITION_OFFSETS = {"NM": 20.0, "BG": 10.0, "CL": -30.0}
# Job order of the sweep: norm's seeds out of order (pairing must go by seed, not by position).
SWEEP_ORDER = [
    ("post", 0),
    ("norm", 2),
    ("post", 1),
    ("norm", 0),
    ("post", 2),
    ("norm", 1),
    ("pre", 0),
    ("pre", 1),
    ("pre", 2),
]
FAILED_ERROR = "RuntimeError: CUDA out of memory"


def view_metrics(mean_rank1: float) -> dict[str, float]:
    """A CASIA-B style metrics.json (sorted keys, per-view keys, mAP) around ``mean_rank1``."""
    metrics = {"mean/rank1": mean_rank1, "mean/mAP": mean_rank1 - 5.0}
    for condition, offset in CONDITION_OFFSETS.items():
        metrics[f"{condition}/rank1"] = mean_rank1 + offset
        metrics[f"{condition}/rank1@000"] = mean_rank1 + offset - 1.0
        metrics[f"{condition}/mAP"] = mean_rank1 + offset - 5.0
    return dict(sorted(metrics.items()))


def write_run(
    folder: Path,
    overrides: list[str],
    seed: int,
    *,
    metrics: dict[str, float] | None = None,
    status: str | None = "completed",
    error: str | None = None,
    row: str | None = None,
    ablation: str | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """One job folder: config.yaml, .hydra/overrides.yaml, metrics.json (when given) and
    status.json (``status=None``: none, like runs older than the status file)."""
    (folder / ".hydra").mkdir(parents=True)
    resolved = {"seed": seed, "row": row, "ablation": ablation, "task_name": "train"}
    resolved.update(config or {})
    OmegaConf.save(OmegaConf.create(resolved), folder / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if status is not None:
        finished = None if status == "running" else "2026-11-30T10:05:00"
        doc = {"status": status, "started": "2026-11-30T10:00:00", "finished": finished}
        doc.update({"wall_s": None if finished is None else 300.0, "error": error})
        (folder / "status.json").write_text(json.dumps(doc))
    if status == "failed":
        (folder / "traceback.txt").write_text(f"Traceback (most recent call last):\n{error}\n")
    return folder


@pytest.fixture
def fusion_sweep(tmp_path: Path) -> Path:
    """A multirun folder ``fusion=post,norm,pre`` x ``seed=0,1,2`` (rows labelled by ``row``),
    then job 9: pre seed 3 failed, job 10: norm seed 3 still running, and job 8 (pre seed 2)
    an old run without status.json whose metrics.json lacks ``CL/rank1``."""
    sweep = tmp_path / "multiruns" / "2026-11-30_10-00-00"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    for num, (name, seed) in enumerate(SWEEP_ORDER):
        metrics = view_metrics(MEAN_RANK1[(name, seed)])
        status: str | None = "completed"
        if num == 8:
            metrics.pop("CL/rank1")
            status = None
        overrides = [f"fusion={name}", f"seed={seed}", f"paths.output_dir=/somewhere/{num}"]
        write_run(sweep / str(num), overrides, seed, metrics=metrics, status=status, row=name)
    write_run(
        sweep / "9", ["fusion=pre", "seed=3"], 3, status="failed", error=FAILED_ERROR, row="pre"
    )
    write_run(sweep / "10", ["fusion=norm", "seed=3"], 3, status="running", row="norm")
    return sweep


@pytest.fixture
def run_writer() -> Callable[..., Path]:
    """:func:`write_run`: one job folder."""
    return write_run


@pytest.fixture
def metrics_around() -> Callable[[float], dict[str, float]]:
    """:func:`view_metrics`: a CASIA-B style metrics dict with the given ``mean/rank1``."""
    return view_metrics

"""Consecutive multirun jobs in one process leave no growth in threads, open files, child
processes or memory (issue 13, "Load"): a 4-job `fusion=norm` sweep with DataLoader workers,
probed after each job by bench/load_probe.py (bench/multirun_load.py measures 10 jobs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gaitwave.data.synthgait import generate

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"

# The probe measures RSS after gc.collect() and malloc_trim(0), so freed memory the allocator
# would keep does not count: over 10 jobs it then grew 0.3..0.4 MB per job (Hydra's launcher keeps
# each job's JobReturn, with its configs, until the sweep ends; W&B keeps up to 100 finished runs
# through its artifact cache), where a job whose Trainer stays referenced added 9.5 MB per job
# (bench/README.md, "Multirun load"). 10 MB over two jobs leaves room for the allocator and
# catches such a leak.
RSS_TOLERANCE_MB = 10
# Objects the garbage collector tracks: the same retained configs and runs are about 1,600..1,800
# per job; a kept Trainer added about 7,200 per job.
OBJECTS_TOLERANCE = 5000


@pytest.mark.slow
@pytest.mark.parametrize("logger", ["csv", "wandb"])
def test_four_norm_jobs_in_one_process_leave_no_growth(
    logger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    monkeypatch.delitem(sys.modules, "multirun_load", raising=False)
    from multirun_load import growth, run_sweep

    data_dir = tmp_path / "data"
    generate(data_dir / "synthgait" / "ci-seed0", preset="ci", seed=0, progress=False)
    rows, _ = run_sweep(
        jobs=4, steps=10, workers=2, logger=logger, data_dir=data_dir, out=tmp_path / "run"
    )

    change = {key: delta for key, (delta, _) in growth(rows, first=2).items()}
    table = "\n".join(str(row) for row in rows)  # shown in full when an assertion fails
    assert change["threads"] == 0, table
    assert change["python_threads"] == 0, table
    assert change["fds"] == 0, table
    assert change["children"] == 0, table
    assert change["rss_mb"] < RSS_TOLERANCE_MB, table
    assert change["objects"] < OBJECTS_TOLERANCE, table
    if logger == "wandb":  # W&B's service outlives its runs: one, not one per job
        assert all(row["child_names"] == "wandb-core" for row in rows), table

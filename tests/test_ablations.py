"""conf/ablation/*: the paper's tables as one multirun each (gaitwave's ablation sweeper).

Each ablation expands to the jobs of its table; a job that raises leaves its status and
traceback in its folder while the others run, and the multirun exits non-zero; the W&B runs of
one sweep share a group and carry what a dashboard groups and filters by.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class
from omegaconf import OmegaConf

from gaitwave.config import config_dir

ABLATIONS = sorted(p.stem for p in (config_dir() / "ablation").glob("*.yaml"))


def sweeper_of(*overrides: str):
    """The ablation sweeper the train app would use with these overrides (jobs not launched).
    The class is looked up after composing: Hydra's plugin scan re-executes plugin modules."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    options = OmegaConf.to_container(cfg.hydra.sweeper)
    target = options.pop("_target_")
    assert target.endswith("AblationSweeper")
    sweeper = get_class(target)(**options)
    sweeper.hydra_context = SimpleNamespace(config_loader=None)
    return sweeper


def as_dict(job: list[str]) -> dict[str, str]:
    return dict(override.split("=", 1) for override in job)


def test_every_ablation_file_is_tested() -> None:
    assert ABLATIONS == ["exponent", "fusion", "l_grid", "loss"]


@pytest.mark.parametrize(
    ("ablation", "rows"),
    [
        ("fusion", ["pre", "post", "norm"]),
        (
            "exponent",
            ["static_-1", "static_0", "static_1", "dynamic_-1_0", "dynamic_0_1", "dynamic_-1_1"],
        ),
        ("loss", ["softmax", "triplet", "circle", "circle_norm", "circle_dlp", "ours"]),
    ],
)
def test_table_ablations_run_every_row_with_every_seed(ablation: str, rows: list[str]) -> None:
    jobs = [as_dict(job) for job in sweeper_of(f"+ablation={ablation}").job_overrides([])]
    assert len(jobs) == len(rows) * 3
    assert [job["row"] for job in jobs[::3]] == rows
    assert [job["seed"] for job in jobs] == ["0", "1", "2"] * len(rows)
    more = sweeper_of(f"+ablation={ablation}", "hydra.sweeper.seeds=[0,1,2,3,4]")
    assert len(more.job_overrides([])) == len(rows) * 5


def test_table_rows_mean_what_the_paper_means() -> None:
    rows = {j["row"]: j for j in map(as_dict, sweeper_of("+ablation=loss").job_overrides([]))}
    assert (
        rows["circle_dlp"]["fusion.truncate"] == rows["circle_dlp"]["fusion.normalize"] == "false"
    )
    assert rows["circle_norm"]["fusion/schedule"] == "static"
    assert rows["circle_norm"]["fusion.schedule.value"] == "1"
    assert rows["ours"] == {"loss": "circle", "fusion": "norm", "row": "ours", "seed": "2"}
    exponent = {
        j["row"]: j for j in map(as_dict, sweeper_of("+ablation=exponent").job_overrides([]))
    }
    assert exponent["dynamic_-1_0"]["fusion.schedule.l_max"] == "0"
    assert exponent["static_0"]["fusion.schedule.value"] == "0"


def test_l_grid_leaves_out_reversed_ranges_and_reaches_eight() -> None:
    jobs = [as_dict(job) for job in sweeper_of("+ablation=l_grid").job_overrides([])]
    pairs = {(float(j["fusion.schedule.l_min"]), float(j["fusion.schedule.l_max"])) for j in jobs}
    assert all(low <= high for low, high in pairs)
    assert (-8.0, 8.0) in pairs and (0.0, 0.0) in pairs and (8.0, -8.0) not in pairs
    assert len(pairs) == 15 and len(jobs) == 45


def test_ordered_keys_must_be_numbers() -> None:
    sweeper = sweeper_of("+ablation=l_grid")
    with pytest.raises(Exception, match="must be numbers"):
        sweeper.job_overrides(["fusion.schedule.l_min=low"])


def test_command_line_seeds_replace_the_list_and_clashes_are_refused() -> None:
    sweeper = sweeper_of("+ablation=fusion")
    jobs = sweeper.job_overrides(["seed=7,8"])
    assert [as_dict(j)["seed"] for j in jobs] == ["7", "8"] * 3
    with pytest.raises(Exception, match="fusion"):
        sweeper.job_overrides(["fusion=post"])


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """`+ablation=fusion` with one seed and an extra row that raises at start, W&B offline."""
    root = tmp_path_factory.mktemp("sweep")
    command = [
        str(Path(sys.executable).with_name("gaitwave-train")),
        "-m",
        "+ablation=fusion",
        "debug=tiny",
        "logger=wandb",
        "hydra.sweeper.seeds=[0]",
        '+hydra.sweeper.rows.broken=["fusion=norm","fusion.schedule.cycles=0"]',
        "trainer.max_steps=6",
        "trainer.val_check_interval=6",
        "data.datamodule.num_workers=0",
        "trainer.enable_progress_bar=false",
        f"paths.log_dir={root}",
        f"paths.data_dir={root / 'data'}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    (sweep,) = (root / "debug" / "multiruns").iterdir()
    (sweep / "stderr.txt").write_text(done.stderr)
    return sweep, done.returncode


def test_a_failing_job_does_not_stop_the_sweep(failing_sweep: tuple[Path, int]) -> None:
    sweep, returncode = failing_sweep
    assert returncode != 0, "a sweep with a failed job must exit non-zero"
    statuses = {
        int(job.name): json.loads((job / "status.json").read_text())
        for job in sweep.iterdir()
        if job.is_dir() and job.name.isdigit()
    }
    assert sorted(statuses) == [0, 1, 2, 3]
    assert [statuses[i]["status"] for i in range(3)] == ["completed"] * 3
    assert statuses[3]["status"] == "failed"
    assert (
        "cycles" in statuses[3]["error"] and "loss.triplet.fusion.schedule" in statuses[3]["error"]
    )
    assert "Traceback" in (sweep / "3" / "traceback.txt").read_text()
    for job in range(3):
        metrics = json.loads((sweep / str(job) / "metrics.json").read_text())
        assert 0 <= metrics["mean/rank1"] <= 100
    assert "1 of 4 jobs failed" in (sweep / "stderr.txt").read_text()


def test_wandb_runs_of_a_sweep_share_a_group_and_carry_the_facts(
    failing_sweep: tuple[Path, int], wandb_run_reader
) -> None:
    sweep, _ = failing_sweep
    runs = {}
    for job in range(3):
        (run_file,) = (sweep / str(job) / "wandb").glob("offline-run-*/run-*.wandb")
        runs[job] = wandb_run_reader(run_file)
    assert len({r["run"].run_group for r in runs.values()}) == 1
    assert runs[0]["run"].run_group == f"debug/{sweep.name}"
    assert {r["run"].job_type for r in runs.values()} == {"fusion"}
    assert [runs[j]["run"].display_name for j in range(3)] == [
        "pre-seed0",
        "post-seed0",
        "norm-seed0",
    ]
    norm = runs[2]
    assert norm["config"]["fusion"] == "norm" and norm["config"]["seed"] == 0
    assert (norm["config"]["l_min"], norm["config"]["l_max"]) == (-1.0, 1.0)
    assert norm["config"]["loss"] == "triplet+softmax" and norm["config"]["row"] == "norm"
    assert norm["config"]["config"]["fusion"]["schedule"]["cycles"] == 4
    assert runs[1]["config"]["fusion"] == "post" and "l_min" not in runs[1]["config"]
    metrics = json.loads((sweep / "2" / "metrics.json").read_text())
    assert norm["summary"]["test/mean/rank1"] == pytest.approx(metrics["mean/rank1"])
    assert any("fusion_weights" in path for path in norm["files"])

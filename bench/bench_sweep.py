"""Benchmark sweep throughput: hydra/launcher=local (jobs side by side, 1 thread each) against
Hydra's basic launcher (one job at a time with all the cores' threads).

Both run the same sweep, `gaitwave-train -m seed=0,1,...` of short `debug=tiny` trainings
(`logger=none callbacks=none`, `--steps` steps, tested once at the end) on the `ci` SynthGait set,
generated once beforehand. Each measurement is the wall time of the whole `gaitwave-train -m`
process (start-up, worker processes and every job included); the two launchers alternate within
each repetition (A B, B A, ...) so the load of a shared machine hits both alike. Reported: jobs
per hour of each (from the median sweep times), the paired median ratio, and the median job
time from the jobs' status.json. Results go in bench/README.md.

    .venv/bin/python bench/bench_sweep.py --jobs 4 --steps 150 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import joblib
import torch

from gaitwave.data.synthgait import generate
from timing import compare

TRAIN = Path(sys.executable).parent / "gaitwave-train"


def sweep_command(
    launcher: str, jobs: int, steps: int, data_dir: Path, sweep_dir: Path
) -> list[str]:
    """`gaitwave-train -m` over `jobs` seeds of a short tiny training, with `launcher`."""
    seeds = ",".join(str(seed) for seed in range(jobs))
    return [
        str(TRAIN),
        "-m",
        f"hydra/launcher={launcher}",
        f"seed={seeds}",
        "debug=tiny",
        "logger=none",
        "callbacks=none",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        f"paths.data_dir={data_dir}",
        f"hydra.sweep.dir={sweep_dir}",
    ]


def sweep_runner(
    launcher: str, jobs: int, steps: int, data_dir: Path, out: Path, threads: int
) -> tuple[Callable[[], None], list[float]]:
    """A callable that runs one sweep into a fresh folder, and the list it appends each job's
    wall seconds to (from the jobs' status.json)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    job_seconds: list[float] = []
    runs = 0

    def run() -> None:
        nonlocal runs
        runs += 1
        sweep_dir = out / launcher / str(runs)
        cmd = sweep_command(launcher, jobs, steps, data_dir, sweep_dir)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        for status in sorted(sweep_dir.glob("*/status.json")):
            job_seconds.append(json.loads(status.read_text())["wall_s"])

    return run, job_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4, help="jobs per sweep (seeds)")
    parser.add_argument("--steps", type=int, default=150, help="training steps per job")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = joblib.cpu_count()  # what hydra/launcher=local's n_jobs=-1 counts

    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        out = Path(tmp)
        data_dir = out / "data"
        generate(data_dir / "synthgait" / "ci-seed0", preset="ci", seed=0, progress=False)
        basic, basic_jobs = sweep_runner("basic", args.jobs, args.steps, data_dir, out, cores)
        local, local_jobs = sweep_runner("local", args.jobs, args.steps, data_dir, out, cores)
        basic_s, local_s, ratio = compare(basic, local, torch.device("cpu"), args.repeats, 0)

    print(
        f"{args.jobs} jobs x {args.steps} steps (debug=tiny), {cores} cores, "
        f"{args.repeats} repeats, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print("\n| launcher | jobs x threads at a time | sweep (s) | jobs/hour | job (s) |")
    print("|---|---|---|---|---|")
    rows = [
        ("basic", f"1 x {cores}", basic_s, basic_jobs),
        ("local", f"{cores} x 1", local_s, local_jobs),
    ]
    for name, layout, seconds, job_seconds in rows:
        job = statistics.median(job_seconds) if job_seconds else float("nan")
        print(
            f"| {name} | {layout} | {seconds:.1f} | {args.jobs * 3600 / seconds:.0f} | {job:.1f} |"
        )
    print(f"\nthroughput local / basic: {1 / ratio:.2f}x (paired median of the sweep times)")


if __name__ == "__main__":
    main()

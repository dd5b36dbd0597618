"""Load of consecutive jobs in one process: memory, threads, open files and child processes
after each job of a `gaitwave-train -m` sweep run by Hydra's basic launcher.

One `gaitwave-train -m fusion=norm seed=0,1,...` process (jobs one after another in the same
process) trains short `debug=tiny` jobs on the `ci` SynthGait set (generated beforehand) with
DataLoader workers (`--workers`), checkpoints and the test at the end, with one torch thread
(OMP_NUM_THREADS=1). The Hydra callback `load_probe.LoadProbe` records, inside that process
after each job, RSS and peak RSS, threads, open files, child processes and objects. Variants:
`csv` (the default loggers) and `wandb` (`logger=wandb`, offline, its files in the temporary
folder: W&B starts a run per job, and a service process, threads and files of its own).

Job 1 includes one-off imports and warm-up, so the figure that matters is the growth from job 2
to the last job, and the per-job slope (least squares over jobs 2..N). Results go in
bench/README.md ("Multirun load").

    OMP_NUM_THREADS=1 .venv/bin/python bench/multirun_load.py --jobs 10 --steps 40
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gaitwave.data.synthgait import generate

BENCH_DIR = Path(__file__).resolve().parent
TRAIN = Path(sys.executable).parent / "gaitwave-train"
MEASURES = ["rss_mb", "peak_rss_mb", "threads", "python_threads", "fds", "children", "objects"]


def sweep_command(
    jobs: int, steps: int, workers: int, logger: str, data_dir: Path, sweep_dir: Path, probe: Path
) -> list[str]:
    """`gaitwave-train -m` over `jobs` seeds of a short norm-fusion training, probed per job."""
    seeds = ",".join(str(seed) for seed in range(jobs))
    return [
        str(TRAIN),
        "-m",
        "fusion=norm",
        f"seed={seeds}",
        "debug=tiny",
        f"logger={logger}",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps // 2}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        f"data.datamodule.num_workers={workers}",
        f"paths.data_dir={data_dir}",
        f"hydra.sweep.dir={sweep_dir}",
        "+hydra.callbacks.load_probe._target_=load_probe.LoadProbe",
        f"+hydra.callbacks.load_probe.path={probe}",
    ]


def sweep_env(logger: str, tmp: Path) -> dict[str, str]:
    """The sweep's environment: one torch thread, bench/ importable (the probe), W&B offline with
    every folder it writes in `tmp` (or disabled for the csv variant)."""
    path = os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    if logger == "wandb":
        wandb_dir = tmp / "wandb"
        env |= {
            "WANDB_MODE": "offline",
            "WANDB_DIR": str(wandb_dir),
            "WANDB_CACHE_DIR": str(wandb_dir / "cache"),
            "WANDB_CONFIG_DIR": str(wandb_dir / "config"),
            "WANDB_DATA_DIR": str(wandb_dir / "data"),
        }
    else:
        env["WANDB_MODE"] = "disabled"
    return env


def run_sweep(
    jobs: int, steps: int, workers: int, logger: str, data_dir: Path, out: Path
) -> tuple[list[dict], float]:
    """Runs the sweep into `out`; returns the probe's rows (one per job, numbers parsed) and the
    wall seconds of the whole process. Raises if the process or a job failed."""
    probe = out / "load.csv"
    cmd = sweep_command(jobs, steps, workers, logger, data_dir, out / "sweep", probe)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=sweep_env(logger, out))
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    if not probe.is_file():
        raise RuntimeError(f"{probe} was not written: the probe did not run\n{done.stderr[-3000:]}")
    with open(probe) as f:
        rows = [
            {key: float(value) if key in MEASURES else value for key, value in row.items()}
            for row in csv.DictReader(f)
        ]
    failed = [row["job"] for row in rows if row["status"] != "COMPLETED"]
    if len(rows) != jobs or failed:
        raise RuntimeError(f"{len(rows)} of {jobs} jobs probed, failed: {failed}\n{done.stderr}")
    return rows, wall


def growth(rows: list[dict], first: int = 2) -> dict[str, tuple[float, float]]:
    """Per measure: (value at the last job - value at job `first`, least-squares slope per job
    over jobs `first`..N)."""
    rows = rows[first - 1 :]
    jobs = [float(row["job"]) for row in rows]
    result = {}
    for key in MEASURES:
        values = [row[key] for row in rows]
        slope = statistics.linear_regression(jobs, values).slope if len(rows) > 1 else 0.0
        result[key] = (values[-1] - values[0], slope)
    return result


def print_report(logger: str, rows: list[dict], wall: float) -> None:
    """The per-job table, then the growth from job 2 to the last and the slope (markdown)."""
    print(f"\n### logger={logger}: {len(rows)} jobs in {wall:.0f} s\n")
    print(
        "| job | RSS (MB) | peak RSS (MB) | threads | Python threads | fds | children | objects |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        names = f" ({row['child_names']})" if row["child_names"] else ""
        print(
            f"| {row['job']} | {row['rss_mb']:.1f} | {row['peak_rss_mb']:.1f} | "
            f"{row['threads']:.0f} | {row['python_threads']:.0f} | {row['fds']:.0f} | "
            f"{row['children']:.0f}{names} | {row['objects']:.0f} |"
        )
    print(f"\n| measure | job 1 | job 2 | job {len(rows)} | growth 2 -> {len(rows)} | per job |")
    print("|---|---|---|---|---|---|")
    for key, (change, slope) in growth(rows).items():
        print(
            f"| {key} | {rows[0][key]:.1f} | {rows[1][key]:.1f} | {rows[-1][key]:.1f} | "
            f"{change:+.1f} | {slope:+.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs of the sweep (seeds)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per job")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--loggers", nargs="+", default=["csv", "wandb"], choices=["csv", "wandb"])
    parser.add_argument("--keep", type=Path, help="copy each variant's load.csv into this folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="multirun_load_") as tmp:
        data_dir = Path(tmp) / "data"
        generate(data_dir / "synthgait" / "ci-seed0", preset="ci", seed=0, progress=False)
        for logger in args.loggers:
            out = Path(tmp) / logger
            rows, wall = run_sweep(args.jobs, args.steps, args.workers, logger, data_dir, out)
            print_report(logger, rows, wall)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / f"load_{logger}.csv").write_text((out / "load.csv").read_text())
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

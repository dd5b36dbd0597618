"""The generation driver: presets, the job list, the process pool, progress and the partition.

`generate` renders every (id, type, view) sequence of a preset, in parallel over sequences with a
process pool (one OpenCV / BLAS thread per worker). Each sequence depends only on its key, so the
files are byte-identical whatever the number of workers. `synthgait.json` (the parameters) is
written first and again at the end, `partition.json` last: its presence means the set is
complete.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gaitwave.data.index import PARTITION_FILE
from gaitwave.data.pool import parallel_map
from gaitwave.data.pretreatment import DROP_DARK, DROP_NO_CENTRE
from gaitwave.data.progress import sequence_progress
from gaitwave.data.storage import write_json
from gaitwave.data.synthgait.sequence import TYPES, VIEWS, SequenceKey, render_sequence
from gaitwave.data.synthgait.writers import (
    FORMATS,
    PARAMETERS_FILE,
    sequence_dir,
    write_pkl,
    write_png,
)

GENERATOR_VERSION = 1
CASIAB_IDS, CASIAB_TRAIN_IDS = 124, 74
MIN_NOMINAL_FRAMES = 8


@dataclass(frozen=True)
class Preset:
    num_ids: int
    frames: int  # mean frames per sequence
    views: tuple[int, ...]


PRESETS = {
    "ci": Preset(num_ids=16, frames=20, views=(0, 90, 180)),
    "dev": Preset(num_ids=124, frames=30, views=VIEWS),
    "full": Preset(num_ids=124, frames=60, views=VIEWS),
}


def id_name(number: int) -> str:
    return f"{number:03d}"


def view_name(view: int) -> str:
    return f"{view:03d}"


def split_ids(ids: Sequence[str]) -> dict[str, list[str]]:
    """CASIA-B's split: the first 74 of 124 ids train, the rest test; proportional for other
    counts (at least one id on each side)."""
    n_train = round(len(ids) * CASIAB_TRAIN_IDS / CASIAB_IDS)
    n_train = min(max(n_train, 1), len(ids) - 1)
    return {"TRAIN_SET": list(ids[:n_train]), "TEST_SET": list(ids[n_train:])}


def _check_arguments(
    preset: str, seed: int, format: str, workers: int, num_ids: int, frames: int, views: list[int]
) -> None:
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is unknown; use one of {', '.join(PRESETS)}")
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is unknown; use one of {', '.join(FORMATS)}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}: use an integer >= 0")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r}: use an integer >= 1")
    if not isinstance(num_ids, int) or num_ids < 2:
        raise ValueError(f"num_ids={num_ids!r}: use an integer >= 2 (train and test need an id)")
    if not isinstance(frames, int) or frames < MIN_NOMINAL_FRAMES:
        raise ValueError(f"frames={frames!r}: use an integer >= {MIN_NOMINAL_FRAMES}")
    bad = [v for v in views if not isinstance(v, int) or not 0 <= v <= 180]
    if bad or not views or len(set(views)) != len(views):
        raise ValueError(f"views={views!r}: use distinct integers in 0..180, e.g. [0,18,...,180]")


def _prepare_root(root: Path) -> None:
    """Make `root` ready: new or empty, or an earlier SynthGait set whose id folders go."""
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"root={root} is a file; give a folder for the SynthGait set")
    root.mkdir(parents=True, exist_ok=True)
    entries = list(root.iterdir())
    if not entries:
        return
    if not (root / PARAMETERS_FILE).is_file():
        raise FileExistsError(
            f"root={root} is not empty and holds no SynthGait set ({PARAMETERS_FILE}); "
            "choose a new or empty folder"
        )
    (root / PARTITION_FILE).unlink(missing_ok=True)  # the old set is no longer complete
    for entry in entries:
        if entry.is_dir() and entry.name.isdigit():
            shutil.rmtree(entry)


@dataclass(frozen=True)
class Job:
    root: str
    key: SequenceKey
    frames: int
    format: str


@dataclass(frozen=True)
class JobResult:
    rendered: int
    kept: int
    dropped_dark: int
    dropped_no_centre: int
    padded: int


def run_job(job: Job) -> JobResult:
    """Render one sequence and write it in the job's format."""
    key = job.key
    frames = render_sequence(key, job.frames)
    subject, view = id_name(key.subject), view_name(key.view)
    folder = sequence_dir(Path(job.root), subject, key.type, view)
    if job.format == "png":
        write_png(folder, f"{subject}-{key.type}-{view}", frames)
        return JobResult(len(frames), len(frames), 0, 0, 0)
    report = write_pkl(folder, view, frames)
    return JobResult(
        len(frames),
        report.kept,
        report.dropped[DROP_DARK],
        report.dropped[DROP_NO_CENTRE],
        report.padded,
    )


def _preset_values(
    preset: str, num_ids: int | None, frames: int | None, views: Sequence[int] | None
) -> tuple[int, int, list[int]]:
    """`(num_ids, frames, views)`: the given values, the preset's where None (0 / empty when the
    preset is unknown, which `_check_arguments` then reports)."""
    chosen = PRESETS.get(preset)
    num_ids = num_ids if num_ids is not None else getattr(chosen, "num_ids", 0)
    frames = frames if frames is not None else getattr(chosen, "frames", 0)
    views = list(views) if views is not None else list(getattr(chosen, "views", ()))
    return num_ids, frames, views


def _run_jobs(jobs: list[Job], workers: int, label: str | None) -> dict[str, int]:
    """Run `jobs` over `workers` processes; the `JobResult` fields summed over the jobs. A
    progress bar named `label` shows sequences and frames/s (none when `label` is None)."""
    totals = dict.fromkeys(JobResult.__dataclass_fields__, 0)
    start = time.perf_counter()
    counts = "sequences, {task.fields[frames]:,} frames, {task.fields[fps]:,.0f} frames/s"
    bar = sequence_progress("SynthGait", counts) if label is not None else None
    if bar is not None:
        bar.start()
        task = bar.add_task(label, total=len(jobs), frames=0, fps=0.0)
    try:
        for result in parallel_map(run_job, jobs, workers, chunksize=4):
            for name in totals:
                totals[name] += getattr(result, name)
            if bar is not None:
                rate = totals["rendered"] / max(time.perf_counter() - start, 1e-9)
                bar.update(task, advance=1, frames=totals["rendered"], fps=rate)
    finally:
        if bar is not None:
            bar.stop()
    return totals


def _frame_counts(totals: dict[str, int], format: str) -> dict[str, object]:
    """The frame counts `synthgait.json` reports: rendered, and for pkl kept / dropped / padded."""
    counts: dict[str, object] = {"frames_rendered": totals["rendered"]}
    if format == "pkl":
        counts.update(
            frames_kept=totals["kept"],
            frames_dropped={
                DROP_DARK: totals["dropped_dark"],
                DROP_NO_CENTRE: totals["dropped_no_centre"],
            },
            frames_padded=totals["padded"],
        )
    return counts


def generate(
    root: str | Path,
    preset: str = "dev",
    seed: int = 0,
    format: str = "pkl",
    workers: int = 2,
    num_ids: int | None = None,
    frames: int | None = None,
    views: Sequence[int] | None = None,
    progress: bool = True,
) -> Path:
    """Generate a SynthGait set under `root`; returns the path of its `partition.json`.

    `num_ids`, `frames` (mean frames per sequence) and `views` (degrees) override the preset.
    `root` must be new, empty, or an earlier SynthGait set (which is replaced).
    """
    num_ids, frames, views = _preset_values(preset, num_ids, frames, views)
    _check_arguments(preset, seed, format, workers, num_ids, frames, views)
    views = sorted(views)
    root = Path(root)
    _prepare_root(root)
    parameters = {
        "generator": "synthgait",
        "version": GENERATOR_VERSION,
        "synthetic": True,
        "preset": preset,
        "seed": seed,
        "format": format,
        "num_ids": num_ids,
        "frames": frames,
        "views": [view_name(v) for v in views],
        "types": list(TYPES),
        "complete": False,
    }
    write_json(root / PARAMETERS_FILE, parameters)
    jobs = [
        Job(str(root), SequenceKey(seed, number, seq_type, view), frames, format)
        for number in range(1, num_ids + 1)
        for seq_type in TYPES
        for view in views
    ]
    totals = _run_jobs(jobs, workers, f"{preset} seed={seed}" if progress else None)
    parameters.update(complete=True, sequences=len(jobs), **_frame_counts(totals, format))
    write_json(root / PARAMETERS_FILE, parameters)
    partition = root / PARTITION_FILE
    write_json(partition, split_ids([id_name(i) for i in range(1, num_ids + 1)]))
    return partition

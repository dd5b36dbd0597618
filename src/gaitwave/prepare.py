"""gaitwave-prepare: a raw silhouette tree, as its dataset ships it, to the OpenGait pickle layout.

gaitwave-prepare raw=/data/CASIA-B out=data/casiab layout=casiab
gaitwave-prepare raw=/data/OUMVLP-raw out=data/oumvlp layout=oumvlp partition=OUMVLP.json workers=8
gaitwave-prepare raw=/data/Gait3D/2D_Silhouettes out=data/gait3d layout=gait3d partition=Gait3D.json
gaitwave-prepare raw=/data/GREW out=data/grew layout=grew

Every sequence (frames in sorted file order) goes through `pretreat_frames` and is written to
`out/<id>/<type>/<view>/<view>.pkl` (uint8 `[T, 64, 64]`, a plain pickle of the array); layouts
that ship aligned frames (GREW) are stored as they are. Unreadable files are reported and
skipped; sequences already written are skipped unless `overwrite=true`, so an interrupted run
resumes. `out/partition.json` is copied from `partition=` (checked by the partition rules of
`gaitwave.data.index` and the layout's), or written where the layout defines the split;
`out/prepare_summary.json` records what was written, dropped and skipped, and why. What differs
between datasets (folder structure, split, partition needs) lives on the layouts
(`gaitwave.data.layouts`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig
from rich.console import Console

from gaitwave.config import config_dir
from gaitwave.data.index import (
    PARTITION_FILE,
    DatasetLayoutError,
    check_partition_ids,
    read_partition,
)
from gaitwave.data.layouts import IGNORED, Layout, SequenceKey, get_layout
from gaitwave.data.pool import parallel_map
from gaitwave.data.pretreatment import DROP_DARK, DROP_NO_CENTRE, FEW_FRAMES, pretreat_frames_report
from gaitwave.data.progress import sequence_progress
from gaitwave.data.readers import CUT_WIDTHS, STORED_WIDTHS
from gaitwave.data.storage import write_json, write_pickle

SUMMARY_FILE = "prepare_summary.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PrepareError(ValueError):
    """Arguments or a raw tree that cannot be prepared; the message names the fix."""


@dataclass
class PrepareSummary:
    """What `prepare_dataset` did. Sequences are named `id/type/view`, files by their path.

    Attributes:
        sequences_found: sequence folders with frames in the raw tree.
        written: sequences pickled by this run.
        skipped_existing: sequences whose pickle was already there (resume; `overwrite=false`).
        frames_read: frames decoded from the sequences processed by this run.
        frames_kept: frames written.
        frames_dropped: frames dropped by the pretreatment, per reason.
        unreadable: files that could not be used -> why (unreadable, empty, truncated, bad size).
        few_frames: written sequences with fewer than 5 frames -> their frame count.
        empty: sequences skipped because no frame was left (or none was there) -> why.
        misplaced: PNG files at a depth where the layout has no sequence.
        ignored_files: files that are not frames of the protocol (GREW GEIs and distractors).
        unlisted_ids: ids written that are in neither TRAIN_SET nor TEST_SET.
        partition: the partition file written, or None.
        partition_note: where the partition came from, or what is needed to get one.
    """

    layout: str
    raw: str
    out: str
    pretreated: bool
    workers: int
    sequences_found: int = 0
    written: int = 0
    skipped_existing: int = 0
    frames_read: int = 0
    frames_kept: int = 0
    frames_dropped: dict[str, int] = field(
        default_factory=lambda: {DROP_DARK: 0, DROP_NO_CENTRE: 0}
    )
    unreadable: dict[str, str] = field(default_factory=dict)
    few_frames: dict[str, int] = field(default_factory=dict)
    empty: dict[str, str] = field(default_factory=dict)
    misplaced: list[str] = field(default_factory=list)
    ignored_files: int = 0
    unlisted_ids: list[str] = field(default_factory=list)
    partition: str | None = None
    partition_note: str = ""
    seconds: float = 0.0


# --- the raw tree -----------------------------------------------------------------------------


@dataclass
class RawScan:
    """The sequences of a raw tree: key -> folder, in key order, and what does not fit."""

    sequences: dict[SequenceKey, Path]
    empty: dict[str, str]
    misplaced: list[str]
    ignored_files: int


def _is_png(name: str) -> bool:
    return name.lower().endswith(".png")


def scan_raw(raw: Path, layout: Layout) -> RawScan:
    """Find every sequence folder of `raw` (folders listed only, no image opened)."""
    with_frames: dict[tuple[str, ...], tuple[int, str]] = {}  # folder -> (count, first frame)
    empty_leaves: list[tuple[str, ...]] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(raw, followlinks=True):
        dirnames.sort()
        folder = Path(dirpath).relative_to(raw).parts
        pngs = [name for name in filenames if _is_png(name)]
        frames = sorted(name for name in pngs if not layout.ignore_file(name))
        ignored += len(pngs) - len(frames)
        if frames:
            with_frames[folder] = (len(frames), frames[0])
        elif not dirnames and folder:
            empty_leaves.append(folder)
    assigned = layout.assign([*with_frames, *empty_leaves])
    sequences: dict[SequenceKey, Path] = {}
    misplaced = []
    for folder, (count, first) in with_frames.items():
        key = assigned[folder]
        if key == IGNORED:
            ignored += count
        elif key is None:
            more = f" and {count - 1} more PNG files there" if count > 1 else ""
            misplaced.append(f"{raw.joinpath(*folder, first)}{more}")
        elif key in sequences:
            raise PrepareError(
                f"{raw.joinpath(*folder)} and {sequences[key]} both map to {key}; "
                f"layout={layout.name} expects {layout.expected}"
            )
        else:
            sequences[key] = raw.joinpath(*folder)
    empty = {
        str(key): f"no PNG frames in {raw.joinpath(*folder)}"
        for folder in empty_leaves
        if isinstance(key := assigned[folder], SequenceKey)
    }
    return RawScan(dict(sorted(sequences.items())), empty, misplaced, ignored)


# --- one sequence (runs in the worker processes) ----------------------------------------------


@dataclass(frozen=True)
class SequenceJob:
    key: SequenceKey
    folder: str
    out_file: str
    layout: str
    pretreat: bool


@dataclass
class SequenceResult:
    key: SequenceKey
    frames_read: int
    kept: int
    dropped: dict[str, int]
    unreadable: dict[str, str]


def read_frame(path: Path) -> tuple[np.ndarray | None, str | None]:
    """A grayscale uint8 frame `[H, W]` (as `cv2.imread(path, cv2.IMREAD_GRAYSCALE)` reads it),
    or None and why it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    if not data:
        return None, "empty file (0 bytes)"
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if frame is not None:
        return frame, None
    if data.startswith(PNG_SIGNATURE):
        return None, "truncated or corrupt PNG (OpenCV cannot decode it)"
    return None, "not an image OpenCV can decode"


def _aligned(frames: list[np.ndarray], files: list[Path], unreadable: dict[str, str]) -> list:
    """Frames shipped aligned: kept as they are if they share one size with a stored width."""
    kept = []
    for frame, file in zip(frames, files, strict=True):
        width = frame.shape[1]
        if width not in STORED_WIDTHS + CUT_WIDTHS:
            unreadable[str(file)] = (
                f"width {width}: aligned frames must be {STORED_WIDTHS} wide (or {CUT_WIDTHS} "
                "already cut); prepare raw frames with pretreat=true"
            )
        elif kept and frame.shape != kept[0].shape:
            unreadable[str(file)] = f"size {frame.shape} differs from {kept[0].shape}"
        else:
            kept.append(frame)
    return kept


def prepare_sequence(job: SequenceJob) -> SequenceResult:
    """Read one sequence's frames in sorted order, pretreat them, pickle the result."""
    layout = get_layout(job.layout)
    names = sorted(
        entry.name
        for entry in os.scandir(job.folder)
        if _is_png(entry.name) and not layout.ignore_file(entry.name) and entry.is_file()
    )
    frames, files, unreadable = [], [], {}
    for name in names:
        path = Path(job.folder, name)
        frame, why = read_frame(path)
        if frame is None:
            unreadable[str(path)] = why
        else:
            frames.append(frame)
            files.append(path)
    dropped = {DROP_DARK: 0, DROP_NO_CENTRE: 0}
    if job.pretreat:
        report = pretreat_frames_report(frames)
        dropped = report.dropped
        result = report.frames
    else:
        kept = _aligned(frames, files, unreadable)
        result = np.stack(kept) if kept else np.zeros((0, 0, 0), np.uint8)
    if len(result):
        write_pickle(Path(job.out_file), result)
    return SequenceResult(job.key, len(frames), len(result), dropped, unreadable)


# --- partition --------------------------------------------------------------------------------


@contextmanager
def _as_prepare_errors() -> Iterator[None]:
    """The partition rules' DatasetLayoutErrors (data.index, the layouts) as PrepareErrors."""
    try:
        yield
    except DatasetLayoutError as error:
        raise PrepareError(str(error)) from None


def read_given_partition(path: Path) -> dict:
    """The partition file given with `partition=`, after the partition rules of
    `gaitwave.data.index` (a JSON object, TRAIN_SET and TEST_SET disjoint lists of id strings,
    PROBE_SET entries `id-type-view` of TEST_SET ids)."""
    if not path.is_file():
        raise PrepareError(f"partition={path}: no such file")
    with _as_prepare_errors():
        partition = read_partition(path)
        check_partition_ids(partition, path)
    return partition


def _write_partition(
    summary: PrepareSummary,
    layout: Layout,
    keys: list[SequenceKey],
    given: dict | None,
    given_path: str | Path | None,
) -> None:
    """Write `out/partition.json` (the given one, or the layout's own), or say what is needed."""
    out = Path(summary.out)
    if given is not None:
        content, source = given, f"copied from {given_path}"
    elif layout.split is not None:
        content, source = layout.split(keys), f"the {layout.name} split"
    else:
        summary.partition_note = layout.published_split
        return
    listed = set(content["TRAIN_SET"]) | set(content["TEST_SET"])
    summary.unlisted_ids = sorted({key.id for key in keys} - listed)
    write_json(out / PARTITION_FILE, content)
    summary.partition = str(out / PARTITION_FILE)
    summary.partition_note = source


# --- the driver -------------------------------------------------------------------------------


def _check_arguments(raw: Path, out: Path, workers: int) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise PrepareError(f"workers={workers!r}: use an integer >= 1")
    if not raw.is_dir():
        raise PrepareError(f"raw={raw}: no such folder; point raw= at the dataset's silhouettes")
    resolved_raw, resolved_out = raw.resolve(), out.resolve()
    if resolved_out == resolved_raw or resolved_raw in resolved_out.parents:
        raise PrepareError(f"out={out} is inside raw={raw}; choose an out folder outside raw")
    if out.exists() and not out.is_dir():
        raise PrepareError(f"out={out} is a file; give a folder")


def _process(
    jobs: list[SequenceJob], workers: int, summary: PrepareSummary, progress: bool
) -> None:
    bar = (
        sequence_progress("prepare", "sequences, {task.fields[fps]:,.0f} frames/s")
        if progress and jobs
        else None
    )
    if bar is not None:
        bar.start()
        task = bar.add_task(summary.layout, total=len(jobs), fps=0.0)
    start = time.perf_counter()
    try:
        for result in parallel_map(prepare_sequence, jobs, workers, chunksize=8):
            name = str(result.key)
            summary.frames_read += result.frames_read
            summary.frames_kept += result.kept
            for reason, count in result.dropped.items():
                summary.frames_dropped[reason] += count
            summary.unreadable.update(result.unreadable)
            if result.kept == 0:
                summary.empty[name] = _empty_reason(result)
            else:
                summary.written += 1
                if result.kept < FEW_FRAMES:
                    summary.few_frames[name] = result.kept
            if bar is not None:
                rate = summary.frames_read / max(time.perf_counter() - start, 1e-9)
                bar.update(task, advance=1, fps=rate)
    finally:
        if bar is not None:
            bar.stop()


def _empty_reason(result: SequenceResult) -> str:
    if result.frames_read == 0:
        return f"none of its {len(result.unreadable)} PNG files could be read"
    reasons = ", ".join(f"{reason}: {n}" for reason, n in result.dropped.items() if n)
    if reasons:
        return f"all {result.frames_read} frames dropped ({reasons})"
    return f"all {result.frames_read} frames rejected (see unreadable)"


def prepare_dataset(
    raw: str | Path,
    out: str | Path,
    layout: str = "casiab",
    workers: int = 2,
    *,
    partition: str | Path | None = None,
    overwrite: bool = False,
    pretreat: bool | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> PrepareSummary:
    """Prepare the raw tree `raw` (in the shipped `layout`) into the pickle layout under `out`.

    Args:
        raw: the dataset's silhouettes as shipped (see gaitwave.data.layouts).
        out: where `<id>/<type>/<view>/<view>.pkl`, `partition.json` and
            `prepare_summary.json` go.
        layout: casiab | oumvlp | gait3d | grew.
        workers: processes (1: in this process). The output does not depend on it.
        partition: a partition JSON to check and copy (needed for oumvlp and gait3d).
        overwrite: rewrite sequences already in `out` (default: skip them, so a run resumes).
        pretreat: None: the layout's default (False only for GREW, shipped aligned).
        progress: show a progress bar.
        console: where the summary is printed (default: a new rich Console).
    """
    start = time.perf_counter()
    raw, out = Path(raw), Path(out)
    chosen = get_layout(layout)
    _check_arguments(raw, out, workers)
    given = read_given_partition(Path(partition)) if partition is not None else None
    scan = scan_raw(raw, chosen)
    if not scan.sequences:
        found = f"; PNG files found at e.g. {scan.misplaced[0]}" if scan.misplaced else ""
        raise PrepareError(
            f"raw={raw}: no sequence found for layout={layout}, which expects "
            f"{chosen.expected}{found}"
        )
    keys = list(scan.sequences)
    if given is not None:
        with _as_prepare_errors():
            chosen.check_partition(given, {key.id for key in keys}, Path(partition))

    summary = PrepareSummary(
        layout=layout,
        raw=str(raw),
        out=str(out),
        pretreated=chosen.pretreat if pretreat is None else pretreat,
        workers=workers,
        sequences_found=len(keys),
        empty=dict(scan.empty),
        misplaced=scan.misplaced,
        ignored_files=scan.ignored_files,
    )
    out.mkdir(parents=True, exist_ok=True)
    _process(_jobs(scan, out, overwrite, summary), workers, summary, progress)
    _write_partition(summary, chosen, keys, given, partition)
    summary.seconds = round(time.perf_counter() - start, 3)
    write_json(out / SUMMARY_FILE, asdict(summary))
    print_summary(summary, console or Console(soft_wrap=True, highlight=False))
    return summary


def _jobs(scan: RawScan, out: Path, overwrite: bool, summary: PrepareSummary) -> list[SequenceJob]:
    """One job per sequence to write; sequences already in `out` are counted as skipped unless
    `overwrite`."""
    jobs = []
    for key, folder in scan.sequences.items():
        out_file = out / key.id / key.type / key.view / f"{key.view}.pkl"
        if out_file.is_file() and not overwrite:
            summary.skipped_existing += 1
            continue
        job = SequenceJob(key, str(folder), str(out_file), summary.layout, summary.pretreated)
        jobs.append(job)
    return jobs


def print_summary(summary: PrepareSummary, console: Console, shown: int = 10) -> None:
    """The summary on the console; long lists show their first `shown` entries."""

    def listing(title: str, entries: list[str]) -> None:
        if not entries:
            return
        console.print(f"[yellow]{title}: {len(entries)}[/yellow]")
        for entry in entries[:shown]:
            console.print(f"  {entry}")
        if len(entries) > shown:
            console.print(f"  ... ({len(entries) - shown} more in {SUMMARY_FILE})")

    s = summary
    how = "pretreated" if s.pretreated else "stored as shipped (aligned)"
    console.print(
        f"[bold]gaitwave-prepare[/bold] layout={s.layout}: {s.sequences_found} sequences found, "
        f"{s.written} written, {s.skipped_existing} already there (skipped); frames {how}: "
        f"{s.frames_read} read, {s.frames_kept} kept, {s.seconds:.1f} s, {s.workers} workers"
    )
    if s.pretreated:
        dropped = ", ".join(f"{reason}: {n}" for reason, n in s.frames_dropped.items())
        console.print(f"frames dropped by the pretreatment: {dropped}")
    listing("unreadable files (skipped)", [f"{p}: {why}" for p, why in s.unreadable.items()])
    listing(
        f"sequences with fewer than {FEW_FRAMES} frames",
        [f"{name}: {n} frames" for name, n in s.few_frames.items()],
    )
    listing("empty sequences (skipped)", [f"{name}: {why}" for name, why in s.empty.items()])
    if s.misplaced:
        console.print(f"[yellow]expected {get_layout(s.layout).expected}[/yellow]")
    listing("PNG files at the wrong depth (skipped)", s.misplaced)
    if s.ignored_files:
        console.print(f"files ignored (not frames of the protocol): {s.ignored_files}")
    listing("ids in neither TRAIN_SET nor TEST_SET", s.unlisted_ids)
    if s.partition is not None:
        console.print(f"partition: {s.partition} ({s.partition_note})")
    else:
        console.print(f"[yellow]no partition written[/yellow]: {s.partition_note}")
    console.print(f"summary: {Path(s.out) / SUMMARY_FILE}")


def run(cfg: DictConfig) -> PrepareSummary:
    """Prepare the dataset the config names."""
    return prepare_dataset(
        cfg.raw,
        cfg.out,
        layout=cfg.layout,
        workers=cfg.workers,
        partition=cfg.partition,
        overwrite=cfg.overwrite,
        pretreat=cfg.pretreat,
        progress=cfg.progress,
    )


@hydra.main(config_path=str(config_dir()), config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Console entry point `gaitwave-prepare`."""
    run(cfg)


if __name__ == "__main__":
    main()

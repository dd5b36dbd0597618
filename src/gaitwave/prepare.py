"""gaitwave-prepare: a raw silhouette tree, as its dataset ships it, to the OpenGait pickle layout.

gaitwave-prepare raw=/data/CASIA-B out=data/casiab layout=casiab
gaitwave-prepare raw=/data/OUMVLP-raw out=data/oumvlp layout=oumvlp partition=OUMVLP.json workers=8
gaitwave-prepare raw=/data/Gait3D/2D_Silhouettes out=data/gait3d layout=gait3d partition=Gait3D.json
gaitwave-prepare raw=/data/GREW out=data/grew layout=grew

Every sequence (frames in sorted file order) goes through `pretreat_frames` and is written to
`out/<id>/<type>/<view>/<view>.pkl` (uint8 `[T, 64, 64]`, a plain pickle of the array); layouts
that ship aligned frames (GREW) are stored as they are. Unreadable files are reported and
skipped; sequences already written are skipped unless `overwrite=true`, so an interrupted run
resumes. `out/partition.json` is written where the layout defines the split, or copied from
`partition=`; `out/prepare_summary.json` records what was written, dropped and skipped, and why.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig
from rich.console import Console

from gaitwave.config import config_dir
from gaitwave.data.layouts import (
    GREW_PROBE_ID,
    GREW_TRAIN_SUFFIX,
    IGNORED,
    Layout,
    SequenceKey,
    get_layout,
)
from gaitwave.data.pool import parallel_map
from gaitwave.data.pretreatment import DROP_DARK, DROP_NO_CENTRE, FEW_FRAMES, pretreat_frames_report
from gaitwave.data.progress import sequence_progress
from gaitwave.data.readers import CUT_WIDTHS, STORED_WIDTHS
from gaitwave.data.synthgait.writers import PICKLE_PROTOCOL, write_json

PARTITION_FILE = "partition.json"
SUMMARY_FILE = "prepare_summary.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CASIAB_TRAIN = [f"{i:03d}" for i in range(1, 75)]
CASIAB_TEST = [f"{i:03d}" for i in range(75, 125)]
CASIAB_73_DROPPED = "005"
PUBLISHED_SPLITS = {
    "oumvlp": (
        "OU-MVLP's split (5,153 training and 5,154 test ids) is not part of the silhouette tree: "
        "rerun with partition=PATH, a JSON with TRAIN_SET and TEST_SET built from the id lists "
        "distributed with OU-MVLP (OU-ISIR), e.g. OpenGait's datasets/OUMVLP/OUMVLP.json"
    ),
    "gait3d": (
        "Gait3D's split (3,000 training ids, 1,000 test ids and the PROBE_SET sequences) is not "
        "part of the silhouette tree: rerun with partition=PATH, the Gait3D.json published with "
        "the dataset (Gait3D-Benchmark; also OpenGait's datasets/Gait3D/Gait3D.json)"
    ),
}


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


# --- the raw tree ---------------------------------------------------------------------------


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


# --- one sequence (runs in the worker processes) ---------------------------------------------


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


def write_pickle(path: Path, frames: np.ndarray) -> None:
    """Pickle uint8 `[T, H, W]` atomically (a temporary file renamed into place): an interrupted
    run never leaves a truncated pickle that a resumed run would take as done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as file:
        pickle.dump(np.ascontiguousarray(frames), file, protocol=PICKLE_PROTOCOL)
    os.replace(tmp, path)


# --- partition --------------------------------------------------------------------------------


def _id_list(content: dict, key: str, path: Path) -> list[str]:
    ids = content.get(key)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise PrepareError(
            f"partition={path}: '{key}' must be a list of id strings as named on disk, "
            f'e.g. "{key}": ["001", "002"]'
        )
    return ids


def load_partition_file(path: Path, layout: str) -> dict[str, Any]:
    """A user-given partition, validated: TRAIN_SET and TEST_SET (disjoint id lists) and, for
    Gait3D (required) or any layout that has one, PROBE_SET entries `id-type-view`."""
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise PrepareError(f"partition={path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PrepareError(f"partition={path}: not a readable JSON file ({error})") from None
    if not isinstance(content, dict):
        raise PrepareError(f"partition={path}: expected a JSON object with TRAIN_SET and TEST_SET")
    train, test = _id_list(content, "TRAIN_SET", path), _id_list(content, "TEST_SET", path)
    both = sorted(set(train) & set(test))
    if both:
        raise PrepareError(
            f"partition={path}: ids in both TRAIN_SET and TEST_SET: {both[:5]}; "
            "each id belongs to one split"
        )
    if layout == "gait3d" and "PROBE_SET" not in content:
        raise PrepareError(
            f"partition={path}: Gait3D needs PROBE_SET (the probe sequences, 'id-type-view'); "
            "use the Gait3D.json published with the dataset"
        )
    if "PROBE_SET" in content:
        test_ids = set(test)
        for entry in _id_list(content, "PROBE_SET", path):
            parts = entry.split("-")
            if len(parts) != 3 or not all(parts) or parts[0] not in test_ids:
                raise PrepareError(
                    f"partition={path}: PROBE_SET entry {entry!r} is not 'id-type-view' with "
                    "an id of TEST_SET (e.g. '0002-camid33_videoid2-seq0')"
                )
    return content


def built_in_partition(layout: str, keys: list[SequenceKey]) -> dict[str, list[str]] | None:
    """The split a layout defines without outside files: CASIA-B's, or GREW's from its tree."""
    if layout == "casiab":
        return {"TRAIN_SET": list(CASIAB_TRAIN), "TEST_SET": list(CASIAB_TEST)}
    if layout == "grew":
        ids = sorted({key.id for key in keys})
        train = [i for i in ids if i.endswith(GREW_TRAIN_SUFFIX)]
        test = [i for i in ids if not i.endswith(GREW_TRAIN_SUFFIX) and i != GREW_PROBE_ID]
        probe = [GREW_PROBE_ID] if GREW_PROBE_ID in ids else []
        return {"TRAIN_SET": train, "TEST_SET": test + probe}
    return None


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


def _write_partition(
    summary: PrepareSummary,
    keys: list[SequenceKey],
    given: dict[str, Any] | None,
    given_path: str | Path | None,
    casiab_73: bool,
) -> None:
    """Write `out/partition.json` (the given one, or the layout's own), or say what is needed."""
    layout, out = summary.layout, Path(summary.out)
    content = given if given is not None else built_in_partition(layout, keys)
    if content is None:
        summary.partition_note = PUBLISHED_SPLITS[layout]
        return
    if casiab_73:
        content["TRAIN_SET"] = [i for i in content["TRAIN_SET"] if i != CASIAB_73_DROPPED]
    listed = set(content["TRAIN_SET"]) | set(content["TEST_SET"])
    summary.unlisted_ids = sorted({key.id for key in keys} - listed)
    write_json(out / PARTITION_FILE, content)
    summary.partition = str(out / PARTITION_FILE)
    source = f"copied from {given_path}" if given is not None else f"the {layout} split"
    summary.partition_note = source + (" without id 005 (casiab_73)" if casiab_73 else "")


def prepare_dataset(
    raw: str | Path,
    out: str | Path,
    layout: str = "casiab",
    workers: int = 2,
    *,
    partition: str | Path | None = None,
    casiab_73: bool = False,
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
        partition: a partition JSON to validate and copy (needed for oumvlp and gait3d).
        casiab_73: drop id 005 from TRAIN_SET (the 73-id CASIA-B variant).
        overwrite: rewrite sequences already in `out` (default: skip them, so a run resumes).
        pretreat: None: the layout's default (False only for GREW, shipped aligned).
        progress: show a progress bar.
        console: where the summary is printed (default: a new rich Console).
    """
    start = time.perf_counter()
    raw, out = Path(raw), Path(out)
    chosen = get_layout(layout)
    _check_arguments(raw, out, workers)
    if casiab_73 and layout != "casiab":
        raise PrepareError(f"casiab_73=true applies to layout=casiab only, not {layout}")
    given = load_partition_file(Path(partition), layout) if partition is not None else None
    pretreat = chosen.pretreat if pretreat is None else pretreat

    scan = scan_raw(raw, chosen)
    if not scan.sequences:
        found = f"; PNG files found at e.g. {scan.misplaced[0]}" if scan.misplaced else ""
        raise PrepareError(
            f"raw={raw}: no sequence found for layout={layout}, which expects "
            f"{chosen.expected}{found}"
        )
    keys = list(scan.sequences)
    ids = {key.id for key in keys}
    probes_unlisted = (
        given is not None and GREW_PROBE_ID in ids and GREW_PROBE_ID not in given["TEST_SET"]
    )
    if layout == "grew" and probes_unlisted:
        raise PrepareError(
            f"partition={partition}: the GREW probes (id '{GREW_PROBE_ID}') must be in "
            f'TEST_SET; add "{GREW_PROBE_ID}" to it'
        )

    summary = PrepareSummary(
        layout=layout, raw=str(raw), out=str(out), pretreated=pretreat, workers=workers
    )
    summary.sequences_found = len(keys)
    summary.empty.update(scan.empty)
    summary.misplaced = scan.misplaced
    summary.ignored_files = scan.ignored_files
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for key, folder in scan.sequences.items():
        out_file = out / key.id / key.type / key.view / f"{key.view}.pkl"
        if out_file.is_file() and not overwrite:
            summary.skipped_existing += 1
            continue
        jobs.append(SequenceJob(key, str(folder), str(out_file), layout, pretreat))
    _process(jobs, workers, summary, progress)

    _write_partition(summary, keys, given, partition, casiab_73)
    summary.seconds = round(time.perf_counter() - start, 3)
    write_json(out / SUMMARY_FILE, asdict(summary))
    print_summary(summary, console or Console(soft_wrap=True, highlight=False))
    return summary


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
        casiab_73=cfg.casiab_73,
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

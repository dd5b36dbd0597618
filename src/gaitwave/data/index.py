"""An index of the OpenGait layout `root/<id>/<type>/<view>/*.pkl` for one partition split.

Built from directory listings only (no file is opened), so ~130k sequences index in seconds.
A view folder holding several `.pkl`/`.npz` files has one file per modality, in sorted order;
`modality` picks one (the first by default). A view folder holding only `.png` frames is a
sequence in the PNG layout: the record's path is the folder. Files directly under the root
(`partition.json`, `synthgait.yaml`, ...) are ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gaitwave.data.readers import SEQUENCE_SUFFIXES

log = logging.getLogger(__name__)

SPLIT_KEYS = {"train": "TRAIN_SET", "test": "TEST_SET"}
_FRAME_SUFFIXES = (".png",)
_LAYOUT = "root/<id>/<type>/<view>/<sequence>.pkl"


class DatasetLayoutError(ValueError):
    """A dataset folder or partition file that does not match the expected layout."""


@dataclass(frozen=True)
class SequenceRecord:
    """One sequence on disk: subject `id`, walking condition `type`, camera `view`, `path`."""

    id: str
    type: str
    view: str
    path: Path


@dataclass
class SequenceIndex:
    """The sequences of one split, sorted by (id, type, view).

    Attributes:
        records: the sequences.
        ids: the split's ids that have sequences on disk, sorted.
        label_of: id -> contiguous training label 0..len(ids)-1 (in sorted id order).
        unlisted_ids: ids on disk in neither TRAIN_SET nor TEST_SET (ignored).
        missing_ids: ids of this split with no folder (or no sequence) on disk.
        empty_folders: id, type or view folders without any sequence (skipped).
    """

    records: list[SequenceRecord]
    ids: list[str]
    label_of: dict[str, int]
    unlisted_ids: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def labels(self) -> list[int]:
        """Training label of every record, in record order."""
        return [self.label_of[record.id] for record in self.records]


def load_partition(path: Path | str) -> dict[str, list[str]]:
    """Read a partition JSON with `TRAIN_SET` and `TEST_SET` id lists (ids as strings)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"partition file {path} not found; generate SynthGait with `gaitwave-synth "
            "root=...` (or `make synth`), or point `partition=` at your dataset's JSON"
        )
    try:
        partition = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetLayoutError(f"{path}: not valid JSON ({error}); fix the file") from error
    if not isinstance(partition, dict):
        raise DatasetLayoutError(f"{path}: expected a JSON object with TRAIN_SET and TEST_SET")
    for key in SPLIT_KEYS.values():
        if not isinstance(partition.get(key), list):
            raise DatasetLayoutError(
                f"{path}: key '{key}' is missing or not a list of ids; add it, e.g. "
                f'"{key}": ["001", "002"]'
            )
    return {key: [str(i) for i in value] for key, value in partition.items()}


def _subdirectories(folder: str) -> list[os.DirEntry]:
    """Sorted sub-folders; a sequence file here means the tree is too shallow."""
    folders = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                folders.append(entry)
            elif entry.name.endswith(SEQUENCE_SUFFIXES + _FRAME_SUFFIXES):
                raise DatasetLayoutError(
                    f"{folder}: holds the sequence file '{entry.name}' but should hold folders; "
                    f"expected {_LAYOUT}: move the files into <type>/<view> sub-folders"
                )
    return sorted(folders, key=lambda entry: entry.name)


def _sequence_path(view_folder: str, modality: int) -> Path | None:
    """The sequence file (or PNG folder) of one view folder, or None when it is empty."""
    sequences, has_frames = [], False
    with os.scandir(view_folder) as entries:
        for entry in entries:
            if entry.is_dir():
                raise DatasetLayoutError(
                    f"{view_folder}: holds the folder '{entry.name}', one level too deep; "
                    f"expected {_LAYOUT}"
                )
            if entry.name.endswith(SEQUENCE_SUFFIXES):
                sequences.append(entry.name)
            elif entry.name.lower().endswith(_FRAME_SUFFIXES):
                has_frames = True
    if sequences:
        sequences.sort()
        if modality >= len(sequences):
            raise DatasetLayoutError(
                f"{view_folder}: modality {modality} asked for, but only {len(sequences)} "
                f"file(s) {sequences}; choose modality < {len(sequences)}"
            )
        return Path(view_folder, sequences[modality])
    if has_frames:
        return Path(view_folder)
    return None


def build_index(
    root: Path | str, partition: Path | str, split: str, modality: int = 0
) -> SequenceIndex:
    """Index the sequences of `split` ("train" or "test") under `root`.

    Args:
        root: dataset root in the layout `root/<id>/<type>/<view>/*.pkl`.
        partition: JSON file with `TRAIN_SET` and `TEST_SET`.
        split: which list to index.
        modality: which of the sorted files of a view folder to use.
    """
    if split not in SPLIT_KEYS:
        raise ValueError(f"split '{split}' is not one of {sorted(SPLIT_KEYS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset root {root} not found; generate SynthGait with `gaitwave-synth "
            "root=...` (or `make synth`), or point `root=` at your dataset"
        )
    lists = load_partition(partition)
    wanted = set(lists[SPLIT_KEYS[split]])
    listed = set(lists[SPLIT_KEYS["train"]]) | set(lists[SPLIT_KEYS["test"]])

    with os.scandir(root) as entries:
        id_folders = sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)
    unlisted = [e.name for e in id_folders if e.name not in listed]
    records: list[SequenceRecord] = []
    empty: list[Path] = []
    for id_folder in id_folders:
        if id_folder.name not in wanted:
            continue
        type_folders = _subdirectories(id_folder.path)
        if not type_folders:
            empty.append(Path(id_folder.path))
        for type_folder in type_folders:
            view_folders = _subdirectories(type_folder.path)
            if not view_folders:
                empty.append(Path(type_folder.path))
            for view_folder in view_folders:
                path = _sequence_path(view_folder.path, modality)
                if path is None:
                    empty.append(Path(view_folder.path))
                    continue
                records.append(
                    SequenceRecord(id_folder.name, type_folder.name, view_folder.name, path)
                )

    if not records:
        raise DatasetLayoutError(
            f"{root}: no sequence of the {split} split ({len(wanted)} ids in "
            f"{SPLIT_KEYS[split]} of {partition}) found; check that the partition's ids match "
            f"the folder names (e.g. '001' vs '1') and the layout {_LAYOUT}"
        )
    ids = sorted({record.id for record in records})
    missing = sorted(wanted - set(ids))
    index = SequenceIndex(
        records=records,
        ids=ids,
        label_of={id_: label for label, id_ in enumerate(ids)},
        unlisted_ids=unlisted,
        missing_ids=missing,
        empty_folders=empty,
    )
    _report(index, root, split)
    return index


def _report(index: SequenceIndex, root: Path, split: str) -> None:
    log.info(
        "%s split of %s: %d sequences of %d ids", split, root, len(index.records), len(index.ids)
    )
    if index.unlisted_ids:
        log.warning(
            "%s: %d id folder(s) in neither TRAIN_SET nor TEST_SET are ignored: %s",
            root,
            len(index.unlisted_ids),
            _preview(index.unlisted_ids),
        )
    if index.missing_ids:
        log.warning(
            "%s: %d %s id(s) of the partition have no sequence on disk: %s",
            root,
            len(index.missing_ids),
            split,
            _preview(index.missing_ids),
        )
    if index.empty_folders:
        log.warning(
            "%s: %d empty folder(s) skipped: %s",
            root,
            len(index.empty_folders),
            _preview([str(p) for p in index.empty_folders]),
        )


def _preview(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

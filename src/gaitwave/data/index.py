"""An index of the OpenGait layout `root/<id>/<type>/<view>/*.pkl` for one partition split.

Built from directory listings only (no file is opened), so ~130k sequences index in seconds.
A view folder holding several `.pkl`/`.npz` files has one file per modality, in sorted order;
`modality` picks one (the first by default). A view folder holding only `.png` frames is a
sequence in the PNG layout: the record's path is the folder. Files directly under the root
(`partition.json`, `synthgait.yaml`, ...) are ignored.

Split membership comes from the partition file (`PARTITION_FILE` in the dataset root by
default): its `TRAIN_SET` / `TEST_SET`, adjusted by two options: `exclude_train_ids` (e.g.
CASIA-B's 73-id variant without 005) and `test_only_ids` (ids that always belong to the test
split and never to training, listed in TEST_SET or not, e.g. GREW's `probe` folder of official
test probes with hidden labels). Gait3D's `PROBE_SET` (`"<id>-<type>-<view>"` entries) is matched
to test records by `match_probe_set`.

The partition rules live here: `read_partition` checks what every reader needs (a JSON object
with TRAIN_SET and TEST_SET lists, PROBE_SET a list if present); `check_partition_ids` adds what a
partition written into a prepared dataset must also meet (`gaitwave-prepare`).
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

PARTITION_FILE = "partition.json"
SPLIT_KEYS = {"train": "TRAIN_SET", "test": "TEST_SET"}
PROBE_SET = "PROBE_SET"
_FRAME_SUFFIXES = (".png",)
_LAYOUT = "root/<id>/<type>/<view>/<sequence>.pkl"


class DatasetLayoutError(ValueError):
    """A dataset folder or partition file that does not match the expected layout."""


@dataclass(frozen=True, slots=True)
class SequenceRecord:
    """One sequence on disk: subject `id`, walking condition `type`, camera `view`, `path`."""

    id: str
    type: str
    view: str
    path: Path

    @property
    def key(self) -> str:
        """`"<id>-<type>-<view>"`, the spelling of Gait3D's PROBE_SET entries."""
        return f"{self.id}-{self.type}-{self.view}"


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


def read_partition(path: Path | str) -> dict:
    """The partition JSON at `path` as written, after the rules every reader needs: a JSON
    object with `TRAIN_SET` and `TEST_SET` id lists, and `PROBE_SET`, if present, a list."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"partition file {path} not found; generate SynthGait with `gaitwave-synth "
            "root=...` (or `make synth`), prepare a dataset with `gaitwave-prepare raw=... "
            "out=... layout=...`, or point `partition=` at your dataset's JSON"
        )
    try:
        partition = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetLayoutError(f"{path}: not valid JSON ({error}); fix the file") from error
    if not isinstance(partition, dict):
        raise DatasetLayoutError(f"{path}: expected a JSON object with TRAIN_SET and TEST_SET")
    for key in SPLIT_KEYS.values():
        if not isinstance(partition.get(key), list):
            raise DatasetLayoutError(
                f"{path}: key '{key}' is missing or not a list of ids; add it, e.g. "
                f'"{key}": ["001", "002"]'
            )
    if PROBE_SET in partition and not isinstance(partition[PROBE_SET], list):
        raise DatasetLayoutError(
            f"{path}: key '{PROBE_SET}' is not a list; give a list of \"<id>-<type>-<view>\" "
            "entries (Gait3D) or drop the key"
        )
    return partition


def load_partition(path: Path | str) -> dict[str, list[str]]:
    """Read a partition JSON (`read_partition`) with its ids as strings: `TRAIN_SET` and
    `TEST_SET` id lists and an optional `PROBE_SET` list of `"<id>-<type>-<view>"` entries."""
    return {key: [str(i) for i in value] for key, value in read_partition(path).items()}


def check_partition_ids(partition: dict, path: Path | str) -> None:
    """The rules a partition written into a prepared dataset meets besides `read_partition`'s:
    ids are strings as named on disk, no id is in both TRAIN_SET and TEST_SET, and every
    PROBE_SET entry is `"<id>-<type>-<view>"` with an id of TEST_SET."""
    for key in (*SPLIT_KEYS.values(), PROBE_SET):
        values = partition.get(key, [])
        if not all(isinstance(value, str) for value in values):
            raise DatasetLayoutError(
                f"{path}: '{key}' must be a list of id strings as named on disk, "
                f'e.g. "{key}": ["001", "002"]'
            )
    train, test = set(partition["TRAIN_SET"]), set(partition["TEST_SET"])
    both = sorted(train & test)
    if both:
        raise DatasetLayoutError(
            f"{path}: ids in both TRAIN_SET and TEST_SET: {both[:5]}; each id belongs to one split"
        )
    for entry in partition.get(PROBE_SET, []):
        parts = entry.split("-")
        if len(parts) != 3 or not all(parts) or parts[0] not in test:
            raise DatasetLayoutError(
                f"{path}: PROBE_SET entry {entry!r} is not 'id-type-view' with an id of TEST_SET "
                "(e.g. '0002-camid33_videoid2-seq0')"
            )


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


def _split_ids(
    lists: dict[str, list[str]],
    partition: Path | str,
    split: str,
    on_disk: set[str],
    test_only_ids: Sequence[str],
    exclude_train_ids: Sequence[str],
) -> set[str]:
    """The ids of `split`: its partition list, less `exclude_train_ids` (train), with the
    `test_only_ids` on disk moved out of training and into the test split."""
    train, test = set(lists[SPLIT_KEYS["train"]]), set(lists[SPLIT_KEYS["test"]])
    unknown = sorted(set(exclude_train_ids) - train)
    if unknown:
        raise DatasetLayoutError(
            f"exclude_train_ids (data.datamodule.exclude_train_ids): {unknown} not in TRAIN_SET "
            f"of {partition}; give training ids as the partition spells them, e.g. [005]"
        )
    test_only = set(test_only_ids)
    if split == "train":
        for id_ in sorted(test_only & train):
            log.warning(
                "%s: id '%s' is test-only (test_only_ids) but listed in TRAIN_SET; it is kept "
                "out of training",
                partition,
                id_,
            )
        if exclude_train_ids:
            log.info(
                "%d training id(s) excluded (exclude_train_ids): %s",
                len(set(exclude_train_ids)),
                preview(sorted(set(exclude_train_ids))),
            )
        return train - test_only - set(exclude_train_ids)
    joining = sorted((test_only & on_disk) - test)
    if joining:
        log.info(
            "test-only id folder(s) %s join the test split although TEST_SET of %s does not "
            "list them (test_only_ids)",
            joining,
            partition,
        )
    return test | (test_only & on_disk)


def build_index(
    root: Path | str,
    partition: Path | str,
    split: str,
    modality: int = 0,
    views: Sequence[str] | None = None,
    test_only_ids: Sequence[str] = (),
    exclude_train_ids: Sequence[str] = (),
) -> SequenceIndex:
    """Index the sequences of `split` ("train" or "test") under `root`.

    Args:
        root: dataset root in the layout `root/<id>/<type>/<view>/*.pkl`.
        partition: JSON file with `TRAIN_SET` and `TEST_SET`.
        split: which list to index.
        modality: which of the sorted files of a view folder to use.
        views: the expected view folder names; another name is an error. None: no check.
        test_only_ids: ids always in the test split (if on disk) and never in training.
        exclude_train_ids: TRAIN_SET ids left out of training (e.g. ["005"]).
    """
    if split not in SPLIT_KEYS:
        raise ValueError(f"split '{split}' is not one of {sorted(SPLIT_KEYS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset root {root} not found; generate SynthGait with `gaitwave-synth "
            "root=...` (or `make synth`), prepare a dataset with `gaitwave-prepare raw=... "
            "out=... layout=...`, or point `root=` at your dataset"
        )
    lists = load_partition(partition)
    with os.scandir(root) as entries:
        id_folders = sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)
    on_disk = {e.name for e in id_folders}
    wanted = _split_ids(lists, partition, split, on_disk, test_only_ids, exclude_train_ids)
    listed = set(lists[SPLIT_KEYS["train"]]) | set(lists[SPLIT_KEYS["test"]]) | set(test_only_ids)
    walk = _walk([f for f in id_folders if f.name in wanted], views, modality)
    if walk.unknown_views:
        raise DatasetLayoutError(
            f"{root}: {len(walk.unknown_views)} view folder(s) not among the expected views "
            f"{sorted(set(views))} (data.datamodule.views): {preview(walk.unknown_views)}; "
            "rename or move them, add the view to data.datamodule.views, or drop the check "
            "with data.datamodule.views=null"
        )
    if not walk.records:
        raise DatasetLayoutError(
            f"{root}: no sequence of the {split} split ({len(wanted)} ids in "
            f"{SPLIT_KEYS[split]} of {partition}) found; check that the partition's ids match "
            f"the folder names (e.g. '001' vs '1') and the layout {_LAYOUT}"
        )
    ids = sorted({record.id for record in walk.records})
    index = SequenceIndex(
        records=walk.records,
        ids=ids,
        label_of={id_: label for label, id_ in enumerate(ids)},
        unlisted_ids=[name for name in sorted(on_disk) if name not in listed],
        missing_ids=sorted(wanted - set(ids)),
        empty_folders=walk.empty,
    )
    _report(index, root, split)
    return index


@dataclass
class _Walk:
    """What the id folders of a split hold: sequences, empty folders, unexpected view folders."""

    records: list[SequenceRecord] = field(default_factory=list)
    empty: list[Path] = field(default_factory=list)
    unknown_views: list[str] = field(default_factory=list)


def _walk(id_folders: list[os.DirEntry], views: Sequence[str] | None, modality: int) -> _Walk:
    """The sequences under `<id>/<type>/<view>` of the given id folders, in sorted order."""
    expected_views = None if views is None else frozenset(views)
    walk = _Walk()
    for id_folder in id_folders:
        type_folders = _subdirectories(id_folder.path)
        if not type_folders:
            walk.empty.append(Path(id_folder.path))
        for type_folder in type_folders:
            view_folders = _subdirectories(type_folder.path)
            if not view_folders:
                walk.empty.append(Path(type_folder.path))
            for view_folder in view_folders:
                if expected_views is not None and view_folder.name not in expected_views:
                    walk.unknown_views.append(view_folder.path)
                    continue
                path = _sequence_path(view_folder.path, modality)
                if path is None:
                    walk.empty.append(Path(view_folder.path))
                    continue
                walk.records.append(
                    SequenceRecord(id_folder.name, type_folder.name, view_folder.name, path)
                )
    return walk


def match_probe_set(
    records: Sequence[SequenceRecord], probe_set: Sequence[str]
) -> tuple[list[bool], list[str]]:
    """Flag the records named by PROBE_SET entries `"<id>-<type>-<view>"`.

    Returns:
        the flag of every record, in record order, and the entries that match no record
        (sorted, each once).
    """
    wanted = set(probe_set)
    mask = [record.key in wanted for record in records]
    unmatched = sorted(wanted - {record.key for record in records})
    return mask, unmatched


def _report(index: SequenceIndex, root: Path, split: str) -> None:
    log.info(
        "%s split of %s: %d sequences of %d ids", split, root, len(index.records), len(index.ids)
    )
    if index.unlisted_ids:
        log.warning(
            "%s: %d id folder(s) in neither TRAIN_SET nor TEST_SET are ignored: %s",
            root,
            len(index.unlisted_ids),
            preview(index.unlisted_ids),
        )
    if index.missing_ids:
        log.warning(
            "%s: %d %s id(s) of the partition have no sequence on disk: %s",
            root,
            len(index.missing_ids),
            split,
            preview(index.missing_ids),
        )
    if index.empty_folders:
        log.warning(
            "%s: %d empty folder(s) skipped: %s",
            root,
            len(index.empty_folders),
            preview([str(p) for p in index.empty_folders]),
        )


def preview(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

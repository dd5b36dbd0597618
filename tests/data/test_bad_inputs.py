"""The bad-input catalogue, end to end: what users bring wrong, and the message each gets.

Every entry names the file or key and the fix; nothing is lost without a report. Reader-level
checks on single files are in test_readers.py (load_sequence) and layout checks in
test_index.py (build_index); here they are met where users meet them: inside a DataLoader
worker while training or testing, through a composed data config, or as the reports of a
dataset setup.

| bad input | raised or reported | tested |
|---|---|---|
| unreadable PNG frame | SequenceFormatError "unreadable image" | here, test_readers |
| zero-byte / truncated pickle | SequenceFormatError "empty (0 bytes)" / "truncated" | here |
| empty array, wrong ndim, non-uint8 | SequenceFormatError "is empty" / "expected 3" / ... | here |
| width not 64 / 44 / 128 / 88 | SequenceFormatError "frame width 50" | here, test_readers |
| malicious pickle | UnsafePickleError, nothing runs | here, test_readers |
| any other failure on one sequence | SequenceLoadError naming the file | here |
| partition ids with no folder | warning with count and preview | here, test_index |
| id folders in neither list | warning with count and preview | here, test_index |
| empty folders | warning with count and preview | here, test_index |
| PROBE_SET entries matching nothing | warning with count and preview | here, test_datamodule |
| unknown view folder names | DatasetLayoutError naming folder, key, fix | here, test_index |
| missing root / partition | FileNotFoundError naming the key and command | test_datamodule |
| missing partition key, bad JSON | DatasetLayoutError naming the file and key | test_index |
| wrong folder depth | DatasetLayoutError naming the folder | test_index |
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gaitwave.data.datamodule import GaitDataModule, SequenceLoadError
from gaitwave.data.index import DatasetLayoutError
from gaitwave.data.readers import SequenceFormatError, UnsafePickleError

TRAIN_IDS, TEST_IDS = ["001", "002"], ["003"]
VIEWS = ("000", "090")


def silhouettes(frames: int = 12, height: int = 64, width: int = 64) -> np.ndarray:
    rng = np.random.default_rng(frames)
    return (rng.random((frames, height, width)) > 0.5).astype(np.uint8) * 255


def write_dataset(root: Path, **partition_extra) -> None:
    """Two training ids and one test id, one type, two views: 6 good pickles."""
    for id_ in TRAIN_IDS + TEST_IDS:
        for view in VIEWS:
            folder = root / id_ / "nm-01" / view
            folder.mkdir(parents=True)
            (folder / f"{view}.pkl").write_bytes(pickle.dumps(silhouettes()))
    partition = {"TRAIN_SET": TRAIN_IDS, "TEST_SET": TEST_IDS, **partition_extra}
    (root / "partition.json").write_text(json.dumps(partition))


class WritesFile:
    """Pickles as a call to os.system that would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def unreadable_png(folder: Path) -> Path:
    """A PNG sequence folder whose second frame is random bytes."""
    import cv2

    cv2.imwrite(str(folder / "0001.png"), silhouettes(1, width=44)[0])
    bad = folder / "0002.png"
    bad.write_bytes(np.random.default_rng(0).bytes(200))
    return bad


def pickled(content) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / f"{folder.name}.pkl"
        path.write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
        return path

    return write


# (name, writer of the bad sequence in a view folder, error type, words of the problem and fix)
CATALOGUE = [
    ("unreadable png", unreadable_png, SequenceFormatError, ["unreadable image", "replace"]),
    ("zero-byte pickle", pickled(b""), SequenceFormatError, ["empty (0 bytes)", "regenerate"]),
    (
        "truncated pickle",
        pickled(pickle.dumps(silhouettes())[:200]),
        SequenceFormatError,
        ["truncated or corrupt", "gaitwave-prepare"],
    ),
    (
        "empty array",
        pickled(np.zeros((0, 64, 64), np.uint8)),
        SequenceFormatError,
        ["is empty", "regenerate"],
    ),
    (
        "wrong ndim",
        pickled(np.zeros((64, 64), np.uint8)),
        SequenceFormatError,
        ["expected 3 [T, H, W]", "one sequence of 2D frames per file"],
    ),
    (
        "non-uint8",
        pickled(np.zeros((5, 64, 64), np.float64)),
        SequenceFormatError,
        ["dtype float64, expected uint8", "astype(np.uint8)"],
    ),
    (
        "width 50",
        pickled(silhouettes(width=50)),
        SequenceFormatError,
        ["frame width 50", "gaitwave-prepare"],
    ),
]


def replace_sequence(root: Path, id_: str, writer: Callable[[Path], Path]) -> Path:
    """Swap the 090 sequence of `id_` for a bad one; returns the file the message must name."""
    folder = root / id_ / "nm-01" / "090"
    (folder / "090.pkl").unlink()
    return writer(folder)


def first_batch(dm: GaitDataModule, split: str):
    loader = dm.train_dataloader() if split == "train" else dm.test_dataloader()
    iterator = iter(loader)
    try:
        return next(iterator)
    finally:
        shut_down(iterator)


def shut_down(iterator) -> None:
    """Stop a multi-process iterator's workers now (left to the garbage collector after an
    error, their shutdown can stall for torch's 5 s status interval)."""
    if hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()


def datamodule(root: Path, **overrides) -> GaitDataModule:
    # P x K = 2 x 2 takes all 4 training sequences into the first batch
    args = dict(root=root, sampler=[2, 2], train_frames=4, test_batch_size=2, num_workers=1)
    return GaitDataModule(**(args | overrides))


@pytest.mark.parametrize(("case", "writer", "error_type", "words"), CATALOGUE)
def test_a_bad_sequence_surfaces_from_the_worker_naming_its_file(
    tmp_path, case, writer, error_type, words
):
    write_dataset(tmp_path)
    bad = replace_sequence(tmp_path, "001", writer)
    with pytest.raises(error_type) as error:
        first_batch(datamodule(tmp_path), "train")
    message = str(error.value)
    assert "DataLoader worker" in message  # raised in the worker, re-raised here
    assert str(bad) in message
    for word in words:
        assert word in message


def test_a_bad_test_sequence_names_its_file(tmp_path):
    write_dataset(tmp_path)
    bad = replace_sequence(tmp_path, "003", pickled(b""))
    iterator = iter(datamodule(tmp_path).test_dataloader())
    with pytest.raises(SequenceFormatError, match="empty") as error:
        list(iterator)
    shut_down(iterator)
    assert str(bad) in str(error.value)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_malicious_pickle_is_refused_in_the_worker_and_runs_nothing(tmp_path, num_workers):
    write_dataset(tmp_path)
    marker = tmp_path / "pwned"
    bad = replace_sequence(tmp_path, "002", pickled(WritesFile(marker)))
    with pytest.raises(UnsafePickleError) as error:
        first_batch(datamodule(tmp_path, num_workers=num_workers), "train")
    message = str(error.value)
    assert str(bad) in message and "posix.system" in message and "np.save" in message
    assert not marker.exists()


def failing_transform(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if frames.shape[0] > 0:
        raise ValueError("cannot warp this clip")
    return frames


def test_any_other_failure_names_the_sequence(tmp_path):
    write_dataset(tmp_path)
    dm = datamodule(tmp_path, train_transforms=[failing_transform])
    with pytest.raises(SequenceLoadError) as error:
        first_batch(dm, "train")
    message = str(error.value)
    assert "ValueError: cannot warp this clip" in message
    named = [record.path for record in dm.train_records if str(record.path) in message]
    assert len(named) == 1 and "DataLoader worker" in message


def test_nothing_is_skipped_without_a_report(tmp_path, caplog):
    """Missing ids, unlisted ids, empty folders and unmatched probes: counted and shown."""
    write_dataset(tmp_path, PROBE_SET=["003-nm-01-000", "003-nm-01-999", "004-nm-01-000"])
    partition = json.loads((tmp_path / "partition.json").read_text())
    partition["TRAIN_SET"] += ["010", "011"]  # not on disk
    (tmp_path / "partition.json").write_text(json.dumps(partition))
    for stray in ["098", "099"]:  # on disk, in neither list
        (tmp_path / stray / "nm-01" / "000").mkdir(parents=True)
        (tmp_path / stray / "nm-01" / "000" / "000.pkl").write_bytes(b"")
    (tmp_path / "001" / "bg-01" / "000").mkdir(parents=True)  # an empty view folder
    dm = datamodule(tmp_path, num_workers=0)
    with caplog.at_level(logging.INFO, logger="gaitwave.data"):
        dm.setup("fit")
        mask = dm.test_probe_mask
    assert sum(mask) == 1
    report = caplog.text
    assert "2 id folder(s) in neither TRAIN_SET nor TEST_SET are ignored: 098, 099" in report
    assert "2 train id(s) of the partition have no sequence on disk: 010, 011" in report
    assert f"1 empty folder(s) skipped: {tmp_path / '001' / 'bg-01' / '000'}" in report
    assert "2 PROBE_SET entries match no test sequence" in report
    assert "003-nm-01-999, 004-nm-01-000" in report


def test_unknown_view_folder_in_a_composed_config(tmp_path, compose_config):
    write_dataset(tmp_path)
    odd = tmp_path / "002" / "nm-01" / "45deg"
    odd.mkdir()
    (odd / "45deg.pkl").write_bytes(pickle.dumps(silhouettes()))
    overrides = [
        "data=casiab",
        f"data.datamodule.root={tmp_path}",
        "data.datamodule.num_workers=0",
        "data.datamodule.sampler=[2,2]",
    ]
    from hydra.utils import instantiate

    dm = instantiate(compose_config("train", *overrides).data.datamodule)
    with pytest.raises(DatasetLayoutError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert str(odd) in message and "'000', '018'" in message
    assert "data.datamodule.views=null" in message
    unchecked = compose_config("train", *overrides, "data.datamodule.views=null")
    dm = instantiate(unchecked.data.datamodule)
    assert {record.view for record in dm.train_records} == {"000", "090", "45deg"}

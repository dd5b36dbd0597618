"""build_index: counts per split, labels, reports (unlisted, missing, empty), layout errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gaitwave.data.index import (
    DatasetLayoutError,
    SequenceRecord,
    build_index,
    load_partition,
    match_probe_set,
)

TYPES = ("nm-01", "nm-02", "bg-01")
VIEWS = ("000", "090")


def write_tree(root: Path, ids: list[str], types=TYPES, views=VIEWS) -> list[SequenceRecord]:
    """Sequence files with junk content: the index must never open them."""
    records = []
    for id_ in ids:
        for type_ in types:
            for view in views:
                folder = root / id_ / type_ / view
                folder.mkdir(parents=True)
                path = folder / f"{view}.pkl"
                path.write_bytes(b"not read by the index")
                records.append(SequenceRecord(id_, type_, view, path))
    return records


def write_partition(root: Path, train: list[str], test: list[str], **extra) -> Path:
    path = root / "partition.json"
    path.write_text(json.dumps({"TRAIN_SET": train, "TEST_SET": test, **extra}))
    return path


@pytest.fixture
def dataset(tmp_path):
    train, test, unlisted = ["001", "002", "004"], ["005", "006"], ["003", "007"]
    records = write_tree(tmp_path, train + test + unlisted)
    partition = write_partition(tmp_path, train, [*test, "008"])  # 008 is not on disk
    (tmp_path / "synthgait.yaml").write_text("preset: ci\n")
    return tmp_path, partition, records


def test_train_and_test_records(dataset):
    root, partition, records = dataset
    for split, ids in [("train", ["001", "002", "004"]), ("test", ["005", "006"])]:
        index = build_index(root, partition, split)
        expected = sorted((r for r in records if r.id in ids), key=lambda r: (r.id, r.type, r.view))
        assert index.records == expected
        assert len(index) == len(ids) * len(TYPES) * len(VIEWS)
        assert index.ids == ids
        assert index.label_of == {id_: ids.index(id_) for id_ in ids}
        assert index.labels() == [ids.index(r.id) for r in expected]


def test_reports_unlisted_and_missing_ids(dataset, caplog):
    root, partition, _ = dataset
    with caplog.at_level(logging.WARNING, logger="gaitwave.data.index"):
        index = build_index(root, partition, "test")
    assert index.unlisted_ids == ["003", "007"]
    assert index.missing_ids == ["008"]
    assert "2 id folder(s) in neither TRAIN_SET nor TEST_SET" in caplog.text
    assert "1 test id(s) of the partition have no sequence" in caplog.text


def test_modalities_sorted_and_selectable(tmp_path):
    folder = tmp_path / "001" / "nm-01" / "000"
    folder.mkdir(parents=True)
    for name in ("b-sils.pkl", "a-pose.pkl", "c-parsing.npz", "notes.txt"):
        (folder / name).write_bytes(b"x")
    partition = write_partition(tmp_path, ["001"], [])
    assert build_index(tmp_path, partition, "train").records[0].path == folder / "a-pose.pkl"
    chosen = build_index(tmp_path, partition, "train", modality=2).records[0].path
    assert chosen == folder / "c-parsing.npz"
    with pytest.raises(DatasetLayoutError, match="modality 3"):
        build_index(tmp_path, partition, "train", modality=3)


def test_png_view_folder_is_a_sequence(tmp_path):
    folder = tmp_path / "001" / "nm-01" / "000"
    folder.mkdir(parents=True)
    (folder / "001-nm-01-000-001.png").write_bytes(b"x")
    partition = write_partition(tmp_path, ["001"], [])
    assert build_index(tmp_path, partition, "train").records[0].path == folder


def test_empty_folders_are_skipped_and_reported(tmp_path, caplog):
    write_tree(tmp_path, ["001"])
    (tmp_path / "001" / "cl-01" / "000").mkdir(parents=True)
    (tmp_path / "001" / "cl-02").mkdir()
    (tmp_path / "002").mkdir()
    partition = write_partition(tmp_path, ["001", "002"], [])
    with caplog.at_level(logging.WARNING, logger="gaitwave.data.index"):
        index = build_index(tmp_path, partition, "train")
    assert len(index) == len(TYPES) * len(VIEWS)
    assert index.empty_folders == [
        tmp_path / "001" / "cl-01" / "000",
        tmp_path / "001" / "cl-02",
        tmp_path / "002",
    ]
    assert index.missing_ids == ["002"]
    assert "3 empty folder(s)" in caplog.text


def test_sequence_file_too_shallow(tmp_path):
    write_tree(tmp_path, ["001"])
    stray = tmp_path / "001" / "nm-01" / "000.pkl"
    stray.write_bytes(b"x")
    partition = write_partition(tmp_path, ["001"], [])
    with pytest.raises(DatasetLayoutError, match=r"000\.pkl") as error:
        build_index(tmp_path, partition, "train")
    assert str(tmp_path / "001" / "nm-01") in str(error.value)


def test_folder_too_deep(tmp_path):
    deep = tmp_path / "001" / "nm-01" / "000" / "extra"
    deep.mkdir(parents=True)
    partition = write_partition(tmp_path, ["001"], [])
    with pytest.raises(DatasetLayoutError, match="one level too deep") as error:
        build_index(tmp_path, partition, "train")
    assert str(deep.parent) in str(error.value)


def test_ids_not_matching_folders(tmp_path):
    write_tree(tmp_path, ["001"])
    partition = write_partition(tmp_path, ["1"], [])
    with pytest.raises(DatasetLayoutError, match="'001' vs '1'"):
        build_index(tmp_path, partition, "train")


def test_partition_errors(tmp_path):
    write_tree(tmp_path, ["001"])
    with pytest.raises(FileNotFoundError, match="gaitwave-synth"):
        build_index(tmp_path, tmp_path / "missing.json", "train")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"TRAIN_SET": ["001"]}))
    with pytest.raises(DatasetLayoutError, match="'TEST_SET'") as error:
        load_partition(bad)
    assert str(bad) in str(error.value)
    with pytest.raises(ValueError, match="split 'val'"):
        build_index(tmp_path, write_partition(tmp_path, ["001"], []), "val")


def test_integer_ids_in_partition_are_strings(tmp_path):
    write_tree(tmp_path, ["7"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"TRAIN_SET": [7], "TEST_SET": []}))
    assert build_index(tmp_path, path, "train").ids == ["7"]


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="make synth"):
        build_index(tmp_path / "nowhere", tmp_path / "p.json", "train")


def test_expected_views_pass_and_unknown_views_are_named(tmp_path):
    write_tree(tmp_path, ["001", "002"])
    partition = write_partition(tmp_path, ["001"], ["002"])
    assert len(build_index(tmp_path, partition, "train", views=["000", "090", "180"])) == 6
    odd = tmp_path / "001" / "bg-01" / "45"
    (odd / "45.pkl").parent.mkdir()
    (odd / "45.pkl").write_bytes(b"x")
    with pytest.raises(DatasetLayoutError, match="1 view folder") as error:
        build_index(tmp_path, partition, "train", views=["000", "090"])
    message = str(error.value)
    assert str(odd) in message and "data.datamodule.views=null" in message
    assert len(build_index(tmp_path, partition, "train", views=None)) == 7
    assert len(build_index(tmp_path, partition, "test", views=["000", "090"])) == 6


def test_exclude_train_ids(tmp_path, caplog):
    write_tree(tmp_path, ["001", "005", "006", "075"])
    partition = write_partition(tmp_path, ["001", "005", "006"], ["075"])
    with caplog.at_level(logging.INFO, logger="gaitwave.data.index"):
        index = build_index(tmp_path, partition, "train", exclude_train_ids=["005"])
    assert index.ids == ["001", "006"] and index.label_of == {"001": 0, "006": 1}
    assert {r.id for r in index.records} == {"001", "006"}
    assert index.unlisted_ids == [] and index.missing_ids == []
    assert "1 training id(s) excluded" in caplog.text
    assert build_index(tmp_path, partition, "test", exclude_train_ids=["005"]).ids == ["075"]
    with pytest.raises(DatasetLayoutError, match=r"\['5'\] not in TRAIN_SET") as error:
        build_index(tmp_path, partition, "train", exclude_train_ids=["5"])
    assert str(partition) in str(error.value)


@pytest.mark.parametrize("listed_in", ["nowhere", "TEST_SET", "TRAIN_SET"])
def test_test_only_ids_join_the_test_split(tmp_path, caplog, listed_in):
    write_tree(tmp_path, ["001", "002", "010", "probe"])
    train, test = ["001", "002"], ["010"]
    {"nowhere": [], "TEST_SET": test, "TRAIN_SET": train}[listed_in].append("probe")
    partition = write_partition(tmp_path, train, test)
    with caplog.at_level(logging.INFO, logger="gaitwave.data.index"):
        train_index = build_index(tmp_path, partition, "train", test_only_ids=["probe"])
        test_index = build_index(tmp_path, partition, "test", test_only_ids=["probe"])
    assert train_index.ids == ["001", "002"]
    assert test_index.ids == ["010", "probe"]
    assert train_index.unlisted_ids == [] == test_index.unlisted_ids
    assert ("join the test split" in caplog.text) == (listed_in != "TEST_SET")
    assert ("kept out of training" in caplog.text) == (listed_in == "TRAIN_SET")


def test_test_only_id_absent_from_disk_is_not_missing(tmp_path):
    write_tree(tmp_path, ["001", "010"])
    partition = write_partition(tmp_path, ["001"], ["010"])
    index = build_index(tmp_path, partition, "test", test_only_ids=["probe"])
    assert index.ids == ["010"] and index.missing_ids == []


def test_match_probe_set():
    records = [
        SequenceRecord(id_, type_, view, Path(f"{id_}/{type_}/{view}"))
        for id_, type_, view in [
            ("0001", "camid0_videoid2", "seq0"),
            ("0001", "camid3_videoid1", "seq1"),
            ("0002", "camid0_videoid2", "seq0"),
        ]
    ]
    entries = ["0002-camid0_videoid2-seq0", "0001-camid3_videoid1-seq1", "0009-camid0-seq0"]
    mask, unmatched = match_probe_set(records, [*entries, entries[0]])
    assert mask == [False, True, True]
    assert unmatched == ["0009-camid0-seq0"]
    assert records[1].key == "0001-camid3_videoid1-seq1"


def test_probe_set_must_be_a_list(tmp_path):
    path = write_partition(tmp_path, ["001"], [], PROBE_SET="0001-a-b")
    with pytest.raises(DatasetLayoutError, match="'PROBE_SET' is not a list") as error:
        load_partition(path)
    assert str(path) in str(error.value)
    entries = ["0001-a-b"]
    assert load_partition(write_partition(tmp_path, ["001"], [], PROBE_SET=entries)) == {
        "TRAIN_SET": ["001"],
        "TEST_SET": [],
        "PROBE_SET": entries,
    }

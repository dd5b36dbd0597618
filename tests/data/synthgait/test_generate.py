"""generate(): layout, partition, shapes, determinism across workers and subsets, PNG round trip."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitwave.data.pretreatment import pretreat_frames
from gaitwave.data.synthgait import TYPES, generate
from gaitwave.data.synthgait.generate import split_ids
from gaitwave.data.synthgait.writers import read_sequence

SMALL = {"preset": "ci", "num_ids": 3, "frames": 10, "views": [0, 90], "progress": False}


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def read_pkl(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        return pickle.load(f)  # our own freshly written file


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "pkl"
    generate(root, seed=0, workers=1, **SMALL)
    return root


def test_layout_and_partition(small_set: Path) -> None:
    ids = sorted(p.name for p in small_set.iterdir() if p.is_dir())
    assert ids == ["001", "002", "003"]
    for subject in ids:
        assert sorted(p.name for p in (small_set / subject).iterdir()) == sorted(TYPES)
        for seq_type in TYPES:
            for view in ("000", "090"):
                folder = small_set / subject / seq_type / view
                assert [p.name for p in folder.iterdir()] == [f"{view}.pkl"]
    partition = json.loads((small_set / "partition.json").read_text())
    assert partition == {"TRAIN_SET": ["001", "002"], "TEST_SET": ["003"]}
    parameters = json.loads((small_set / "synthgait.json").read_text())
    assert parameters["complete"] and parameters["seed"] == 0 and parameters["synthetic"]
    assert parameters["sequences"] == 3 * len(TYPES) * 2


def test_sequences_are_uint8_64x64(small_set: Path) -> None:
    lengths = []
    for path in sorted(small_set.rglob("*.pkl")):
        frames = read_pkl(path)
        assert isinstance(frames, np.ndarray) and frames.dtype == np.uint8
        assert frames.ndim == 3 and frames.shape[1:] == (64, 64) and len(frames) >= 1
        assert frames.max() == 255
        lengths.append(len(frames))
    assert len(set(lengths)) > 1  # lengths vary between takes


def test_casiab_split_and_proportional_split() -> None:
    ids = [f"{i:03d}" for i in range(1, 125)]
    split = split_ids(ids)
    assert split["TRAIN_SET"] == ids[:74] and split["TEST_SET"] == ids[74:]
    assert len(split_ids(ids[:16])["TRAIN_SET"]) == round(16 * 74 / 124)
    assert split_ids(ids[:2]) == {"TRAIN_SET": ["001"], "TEST_SET": ["002"]}


def test_same_seed_same_bytes_whatever_the_workers(small_set: Path, tmp_path: Path) -> None:
    generate(tmp_path / "two", seed=0, workers=2, **SMALL)
    assert files_of(tmp_path / "two") == files_of(small_set)


def test_subset_regenerates_identically_and_seed_changes_data(
    small_set: Path, tmp_path: Path
) -> None:
    generate(tmp_path / "sub", seed=0, workers=1, **{**SMALL, "num_ids": 2, "views": [90]})
    sub = files_of(tmp_path / "sub")
    full = files_of(small_set)
    shared = [k for k in sub if k.endswith(".pkl")]
    assert len(shared) == 2 * len(TYPES)
    assert all(sub[k] == full[k] for k in shared)
    generate(tmp_path / "other", seed=1, workers=1, **SMALL)
    other = files_of(tmp_path / "other")
    pkls = [k for k in full if k.endswith(".pkl")]
    assert sum(other.get(k) == full[k] for k in pkls) == 0


def test_png_layout_round_trips_to_the_pickles(small_set: Path, tmp_path: Path) -> None:
    root = tmp_path / "png"  # a subset: ids 001-002 at 90 deg regenerate identically
    generate(root, seed=0, workers=1, format="png", **{**SMALL, "num_ids": 2, "views": [90]})
    pkls = sorted(small_set.glob("00[12]/*/090/*.pkl"))
    assert len(pkls) == 2 * len(TYPES)
    for pkl in pkls:
        folder = root / pkl.parent.relative_to(small_set)
        subject, seq_type, view = folder.parts[-3:]
        pngs = sorted(folder.glob("*.png"))
        assert pngs[0].name == f"{subject}-{seq_type}-{view}-001.png"
        frames = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in pngs]
        assert frames[0].shape == (240, 320)
        assert set(np.unique(np.stack(frames)).tolist()) <= {0, 255}
        np.testing.assert_array_equal(pretreat_frames(frames), read_pkl(pkl))
        # read back as the loaders give them (width cut to 44), from either layout
        np.testing.assert_array_equal(read_sequence(folder, view), read_pkl(pkl)[:, :, 10:54])
        np.testing.assert_array_equal(read_sequence(pkl.parent, view), read_pkl(pkl)[:, :, 10:54])


def test_regenerating_replaces_an_earlier_set(tmp_path: Path) -> None:
    root = tmp_path / "again"
    generate(root, seed=0, workers=1, **{**SMALL, "num_ids": 3, "views": [90]})
    generate(root, seed=0, workers=1, **{**SMALL, "num_ids": 2, "views": [90]})
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["001", "002"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"preset": "huge"}, "preset='huge' is unknown"),
        ({"format": "jpg"}, "format='jpg' is unknown"),
        ({"num_ids": 1}, "num_ids=1"),
        ({"frames": 3}, "frames=3"),
        ({"views": [0, 200]}, "views="),
        ({"workers": 0}, "workers=0"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path: Path, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "bad", **{**SMALL, **arguments})


def test_refuses_a_foreign_non_empty_root(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(tmp_path, **SMALL)
    assert (tmp_path / "mine.txt").read_text() == "user data"

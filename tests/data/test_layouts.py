"""The four real datasets: small trees in the shape `gaitwave-prepare` gives each one load with
their `data=<name>` configs (augmentations, 64 x 44, protocol split) into a training batch and
the whole test loader."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from gaitwave.data.datamodule import GaitDataModule
from gaitwave.evaluation import get_protocol

SEQUENCE_LENGTHS = (9, 20, 41)  # frames; 9 and 20 are shorter than a training clip


def write_tree(root: Path, keys: list[tuple[str, str, str]], partition: dict) -> None:
    """Random 64 x 64 uint8 silhouettes at `root/<id>/<type>/<view>/<view>.pkl`."""
    rng = np.random.default_rng(0)
    for number, (id_, type_, view) in enumerate(keys):
        length = SEQUENCE_LENGTHS[number % len(SEQUENCE_LENGTHS)]
        frames = (rng.random((length, 64, 64)) > 0.5).astype(np.uint8) * 255
        folder = root / id_ / type_ / view
        folder.mkdir(parents=True)
        (folder / f"{view}.pkl").write_bytes(pickle.dumps(frames))
    (root / "partition.json").write_text(json.dumps(partition))


def grid(ids: list[str], types: list[str], views: list[str]) -> list[tuple[str, str, str]]:
    return [(i, t, v) for i in ids for t in types for v in views]


def casiab(root: Path) -> dict:
    train, test = ["001", "002", "005", "074"], ["075", "124"]
    types = ["nm-01", "nm-05", "bg-01", "cl-02"]
    write_tree(
        root,
        grid(train + test, types, ["000", "090", "180"]),
        {
            "TRAIN_SET": train,
            "TEST_SET": test,
        },
    )
    return dict(train_ids=train, test_ids=test, records=2 * 4 * 3)


def oumvlp(root: Path) -> dict:
    train, test = ["00001", "00003"], ["00002", "10307"]
    keys = grid(train + test, ["00", "01"], ["000", "090", "270"])
    keys.remove(("10307", "01", "270"))  # a probe without a gallery sequence at 270
    write_tree(root, keys, {"TRAIN_SET": train, "TEST_SET": test})
    return dict(train_ids=train, test_ids=test, records=2 * 2 * 3 - 1)


GAIT3D_PROBES = ["0998-camid9_videoid2-seq1", "0999-camid0_videoid1-seq0"]


def gait3d(root: Path) -> dict:
    train, test = ["0000", "0001", "0002"], ["0998", "0999"]
    keys = grid(train + test, ["camid0_videoid1", "camid9_videoid2"], ["seq0", "seq1"])
    write_tree(root, keys, {"TRAIN_SET": train, "TEST_SET": test, "PROBE_SET": GAIT3D_PROBES})
    return dict(train_ids=train, test_ids=test, records=2 * 2 * 2)


def grew(root: Path) -> dict:
    train, test = ["00001train", "00002train", "00003train"], ["00001", "00002"]
    keys = grid(train, ["00"], ["4a1b9c", "7f0e2d"])
    keys += grid(test, ["01", "02"], ["0c3d5e"]) + grid(["probe"], ["03"], ["1d2e3f", "9a8b7c"])
    write_tree(root, keys, {"TRAIN_SET": train, "TEST_SET": test})  # `probe` not listed
    return dict(train_ids=train, test_ids=[*test, "probe"], records=2 * 2 + 2)


DATASETS = {"casiab": casiab, "oumvlp": oumvlp, "gait3d": gait3d, "grew": grew}


def datamodule(compose_config, name: str, root: Path, *overrides: str) -> GaitDataModule:
    cfg = compose_config(
        "train",
        f"data={name}",
        f"data.datamodule.root={root}",
        f"data.datamodule.partition={root / 'partition.json'}",
        "data.datamodule.sampler=[2,2]",
        "data.datamodule.num_workers=0",
        *overrides,
    )
    assert get_protocol(cfg.data.protocol).name.startswith(name)
    dm = instantiate(cfg.data.datamodule)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_prepared_layout_loads_with_its_config(tmp_path, compose_config, name):
    expected = DATASETS[name](tmp_path)
    dm = datamodule(compose_config, name, tmp_path)
    assert dm.train_index.ids == expected["train_ids"]
    assert dm.test_index.ids == sorted(expected["test_ids"])
    assert dm.num_classes == len(expected["train_ids"])
    assert len(dm.test_records) == expected["records"]

    frames, labels = next(iter(dm.train_dataloader()))
    assert frames.shape == (4, 30, 64, 44) and frames.dtype == torch.float32
    assert sorted(torch.bincount(labels).tolist())[-2:] == [2, 2]

    seen = []
    for batch in dm.test_dataloader():
        assert batch["frames"].shape[2:] == (64, 44)
        seen += batch["index"].tolist()
        for row, position in enumerate(batch["index"].tolist()):
            stored = pickle.loads(dm.test_records[position].path.read_bytes())
            length = int(batch["lengths"][row])
            assert length == len(stored) and batch["frames"][row, length:].abs().sum() == 0
    assert sorted(seen) == list(range(len(dm.test_records)))


def test_gait3d_probe_mask(tmp_path, compose_config):
    gait3d(tmp_path)
    dm = datamodule(compose_config, "gait3d", tmp_path)
    mask = dm.test_probe_mask
    flagged = [f"{r.id}-{r.type}-{r.view}" for r, m in zip(dm.test_records, mask, strict=True) if m]
    assert flagged == sorted(GAIT3D_PROBES)
    assert dm.test_probe_mask is mask


def test_grew_probes_are_test_only(tmp_path, compose_config):
    grew(tmp_path)
    dm = datamodule(compose_config, "grew", tmp_path)
    probes = [r for r in dm.test_records if r.id == "probe"]
    assert [(r.type, r.view) for r in probes] == [("03", "1d2e3f"), ("03", "9a8b7c")]
    assert "probe" not in dm.train_index.label_of
    assert dm.test_probe_mask is None


def test_casiab_73_ids(tmp_path, compose_config):
    casiab(tmp_path)
    dm = datamodule(compose_config, "casiab", tmp_path, "data.datamodule.exclude_train_ids=[005]")
    assert dm.train_index.ids == ["001", "002", "074"]
    assert {r.id for r in dm.train_records} == {"001", "002", "074"}

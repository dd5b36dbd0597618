"""gaitwave-synth: conf/synth.yaml composes, overrides reach generate(), calibrate and sheet run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from gaitwave.config import config_dir
from gaitwave.synth import main


def compose_app(app: str, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(app, overrides=overrides)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("app") / "set"
    overrides = [
        f"root={root}",
        "preset=ci",
        "seed=3",
        "format=pkl",
        "workers=1",
        "num_ids=4",
        "frames=8",
        "views=[0,90]",
        "progress=false",
    ]
    main(compose_app("synth", overrides))
    return root


def test_overrides_reach_the_generator(tiny_root: Path) -> None:
    parameters = json.loads((tiny_root / "synthgait.json").read_text())
    assert parameters["preset"] == "ci" and parameters["seed"] == 3
    assert parameters["num_ids"] == 4 and parameters["frames"] == 8
    assert parameters["views"] == ["000", "090"] and parameters["format"] == "pkl"
    assert sorted(p.name for p in (tiny_root / "004" / "cl-02").iterdir()) == ["000", "090"]
    partition = json.loads((tiny_root / "partition.json").read_text())
    assert partition["TEST_SET"] == ["003", "004"]


def test_default_root_is_where_training_looks() -> None:
    synth = compose_app("synth", ["preset=ci", "seed=5"])
    train = compose_app("train", ["data.synthgait.preset=ci", "data.synthgait.seed=5"])
    assert synth.root == train.data.datamodule.root
    assert synth.root.endswith("synthgait/ci-seed5")


def test_calibrate_prints_the_table(tiny_root: Path, capsys: pytest.CaptureFixture) -> None:
    main(compose_app("synth", [f"root={tiny_root}", "calibrate=true"]))
    printed = capsys.readouterr().out
    assert "NM same-view" in printed and "CL cross-view" in printed
    assert "not CASIA-B" in printed


def test_sheet_writes_a_png_grid(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    main(compose_app("synth", [f"root={tiny_root}", "sheet=true", f"out={out}", "sheet_ids=2"]))
    sheet = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert sheet is not None
    rows, views = 2 * 3, 2  # ids x (nm-01, bg-01, cl-01), views
    assert sheet.shape[0] > rows * 128 and sheet.shape[1] > views * 4 * 44 * 2
    assert (sheet == 255).any()


def test_calibrating_a_missing_set_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gaitwave-synth root="):
        main(compose_app("synth", [f"root={tmp_path / 'none'}", "calibrate=true"]))

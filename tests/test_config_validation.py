"""Configuration errors fail at start naming the key, the value, what is valid and the fix
(gaitwave.validation); typos in a group option or a key fail in Hydra's composition."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from gaitwave.config import config_dir
from gaitwave.train import train
from gaitwave.validation import ConfigError, check_train_config

EXPERIMENTS = sorted(path.stem for path in (config_dir() / "experiment").glob("*.yaml"))


@pytest.fixture
def compose(compose_config, tmp_path: Path):
    """The train config with the data folder in tmp_path (SynthGait not generated there)."""

    def make(*overrides: str):
        return compose_config("train", f"paths.data_dir={tmp_path / 'data'}", *overrides)

    return make


def test_the_default_config_passes(compose) -> None:
    check_train_config(compose())


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_recipe_passes(compose, name: str) -> None:
    """Values only: the real-dataset recipes point at roots that do not exist here."""
    check_train_config(compose(f"experiment={name}"), check_paths=False)


# (overrides, the key=value the message names, the fix it gives)
BAD_VALUES = [
    (["seed=abc"], "seed='abc'", "seed=0"),
    (["seed=-1"], "seed=-1", "seed=0"),
    (["trainer.max_steps=ten"], "trainer.max_steps='ten'", "trainer.max_steps=600"),
    (["trainer.max_steps=0"], "trainer.max_steps=0", "trainer.max_steps=600"),
    (
        ["trainer.val_check_interval=0.5"],
        "trainer.val_check_interval=0.5",
        "trainer.val_check_interval=400",
    ),
    (["optimizer.lr=fast"], "optimizer.lr='fast'", "optimizer.lr=1e-3"),
    (["optimizer.lr=0"], "optimizer.lr=0", "optimizer.lr=1e-3"),
    (["optimizer.lr=nan"], "optimizer.lr=nan", "optimizer.lr=1e-3"),
    (["optimizer.weight_decay=-1"], "optimizer.weight_decay=-1", "optimizer.weight_decay=5e-4"),
    (
        ["fusion.schedule.l_min=abc"],
        "loss.triplet.fusion.schedule.l_min='abc'",
        "fusion.schedule.l_min=1",
    ),
    (
        ["fusion.schedule.l_max=inf"],
        "loss.triplet.fusion.schedule.l_max=inf",
        "fusion.schedule.l_max=1",
    ),
    (
        ["fusion.schedule.l_min=2", "fusion.schedule.l_max=1"],
        "loss.triplet.fusion.schedule",
        "l_min (2) must be <= l_max (1)",
    ),
    (["fusion.schedule.cycles=0"], "loss.triplet.fusion.schedule", "cycles"),
    (["data.protocol=casib"], "data.protocol='casib'", "data.protocol=casiab"),
    (["data.protocol={name: casiab, views: 3}"], "data.protocol", "unknown key(s) ['views']"),
    (["eval.metric=cosine"], "eval.metric='cosine'", "eval.metric=euc"),
    (["eval.feature=emb"], "eval.feature='emb'", "eval.feature=embeddings"),
    (["eval.per_part=yes"], "eval.per_part='yes'", "eval.per_part=true"),
    (["data.datamodule.sampler=[8]"], "data.datamodule.sampler=[8]", "sampler=[8,4]"),
    (["data.datamodule.sampler=[0,4]"], "data.datamodule.sampler=[0, 4]", "sampler=[8,4]"),
    (["data.datamodule.sampler=[a,4]"], "data.datamodule.sampler=['a', 4]", "sampler=[8,4]"),
    (
        ["data.datamodule.train_frames=0"],
        "data.datamodule.train_frames=0",
        "data.datamodule.train_frames=30",
    ),
    (
        ["data.datamodule.test_frames_cap=0"],
        "data.datamodule.test_frames_cap=0",
        "data.datamodule.test_frames_cap=720",
    ),
    (
        ["data.datamodule.test_batch_size=0"],
        "data.datamodule.test_batch_size=0",
        "data.datamodule.test_batch_size=16",
    ),
    (
        ["data.datamodule.num_workers=-1"],
        "data.datamodule.num_workers=-1",
        "data.datamodule.num_workers=2",
    ),
    (
        ["+data.datamodule.frame_mode=random"],
        "data.datamodule.frame_mode='random'",
        "data.datamodule.frame_mode=fixed_unordered",
    ),
    (
        ["+data.datamodule.frame_mode=unfixed_ordered"],
        "data.datamodule.train_frames_range=null",
        "data.datamodule.train_frames_range=[25,30]",
    ),
    (
        ["+data.datamodule.train_frames_range=[5,2]"],
        "data.datamodule.train_frames_range=[5, 2]",
        "data.datamodule.train_frames_range=[25,30]",
    ),
    (["data.datamodule.height=null"], "data.datamodule.height=null", "data.datamodule.height=64"),
    (
        ["data.datamodule.height=-3", "data.datamodule.width=-2"],
        "data.datamodule.height=-3",
        "data.datamodule.height=64",
    ),
    (["data.synthgait.preset=huge"], "data.synthgait.preset='huge'", "data.synthgait.preset=ci"),
    (["data.synthgait.num_ids=1"], "data.synthgait.num_ids=1", "data.synthgait.num_ids=124"),
    (
        ["trainer=ddp", "trainer.devices=3"],
        "data.datamodule.sampler=[8, 4]",
        "data.datamodule.sampler=[6,4]",
    ),
]


@pytest.mark.parametrize(("overrides", "named", "fix"), BAD_VALUES)
def test_a_bad_value_names_its_key_and_the_fix(
    compose, overrides: list[str], named: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_train_config(compose(*overrides))
    assert named in str(caught.value)
    assert fix in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "ids", "source"),
    [
        ([], 74, "SynthGait preset dev (124 ids)"),  # not generated yet: the preset's split
        (["data.synthgait.preset=ci"], 10, "SynthGait preset ci (16 ids)"),
        (["data.synthgait.num_ids=20"], 12, "SynthGait preset dev (20 ids)"),
    ],
)
def test_more_ids_per_batch_than_synthgait_trains_on_fail(
    compose, overrides: list[str], ids: int, source: str
) -> None:
    check_train_config(compose(*overrides, f"data.datamodule.sampler=[{ids},2]"))
    with pytest.raises(ConfigError) as caught:
        check_train_config(compose(*overrides, f"data.datamodule.sampler=[{ids + 1},2]"))
    message = str(caught.value)
    assert message.startswith(f"data.datamodule.sampler=[{ids + 1}, 2]")
    assert f"the training split has {ids} ids ({source})" in message
    assert f"data.datamodule.sampler=[{ids},2]" in message


def test_ids_per_batch_are_counted_in_the_partition_file(compose, tmp_path: Path) -> None:
    """TRAIN_SET less exclude_train_ids; the ids on disk are the sampler's business."""
    root = tmp_path / "casiab"
    root.mkdir()
    partition = root / "partition.json"
    partition.write_text(json.dumps({"TRAIN_SET": ["001", "002", "003"], "TEST_SET": ["004"]}))
    overrides = ["data=casiab", f"data.datamodule.root={root}"]
    check_train_config(compose(*overrides, "data.datamodule.sampler=[3,2]"))
    with pytest.raises(ConfigError) as caught:
        check_train_config(
            compose(
                *overrides,
                "data.datamodule.sampler=[3,2]",
                "data.datamodule.exclude_train_ids=['001']",
            )
        )
    assert f"has 2 ids (TRAIN_SET of {partition})" in str(caught.value)
    assert "data.datamodule.sampler=[2,2]" in str(caught.value)


def test_a_missing_dataset_root_names_the_command_that_creates_it(compose, tmp_path: Path) -> None:
    cfg = compose("data=casiab")
    root = tmp_path / "data" / "casiab"
    with pytest.raises(ConfigError) as caught:
        check_train_config(cfg)
    message = str(caught.value)
    assert message.startswith(f"data.datamodule.root='{root}': no such folder")
    assert f"gaitwave-prepare raw=<raw casiab tree> out={root} layout=casiab" in message
    assert "set data.datamodule.root=<your copy>" in message
    check_train_config(cfg, check_paths=False)


def test_a_missing_partition_file_names_the_command_that_creates_it(
    compose, tmp_path: Path
) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    cfg = compose("data=gait3d", f"data.datamodule.root={root}")
    with pytest.raises(ConfigError) as caught:
        check_train_config(cfg)
    message = str(caught.value)
    assert message.startswith(f"data.datamodule.partition='{root / 'partition.json'}'")
    assert f"gaitwave-prepare raw=<raw gait3d tree> out={root} layout=gait3d" in message
    assert "set data.datamodule.partition=<your partition JSON>" in message


def test_synthgait_not_generated_yet_is_no_error(compose, tmp_path: Path) -> None:
    """ensure_data generates it on first use."""
    check_train_config(compose("data.synthgait.preset=ci"))
    assert not (tmp_path / "data").exists()


def test_validation_after_the_last_step_is_allowed_with_a_warning(compose, caplog) -> None:
    """A run may be tested only at the end."""
    with caplog.at_level(logging.WARNING, logger="gaitwave.validation"):
        check_train_config(compose("trainer.max_steps=100", "trainer.val_check_interval=200"))
    assert "validation never runs during training" in caplog.text


@pytest.mark.parametrize(
    ("group", "typo"), [("fusion", "nrom"), ("backbone", "gaitbse"), ("fusion/schedule", "dynamik")]
)
def test_a_typo_in_a_group_option_lists_the_valid_options(compose, group: str, typo: str) -> None:
    with pytest.raises(ConfigCompositionException) as caught:
        compose(f"{group}={typo}")
    message = str(caught.value)
    assert f"Could not find '{group}/{typo}'" in message
    options = sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))
    listed = re.search(rf"Available options in '{group}':\n((?:\t\S+\n)+)", message)
    assert listed is not None and listed.group(1).split() == options


@pytest.mark.parametrize("override", ["trainer.max_stesp=10", "fusion.truncat=false"])
def test_a_typo_in_a_key_names_the_key(compose, override: str) -> None:
    with pytest.raises(ConfigCompositionException, match=re.escape(override.split("=")[0])):
        compose(override)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["optimizer.lr=fast"], "optimizer.lr='fast'"),
        (["data.datamodule.sampler=[20,2]"], "data.datamodule.sampler=[20, 2]"),
    ],
)
def test_train_fails_at_start(
    tiny_train_config, tmp_path: Path, overrides: list[str], named: str
) -> None:
    """Before generating the data (or anything else)."""
    data_dir = tmp_path / "data"
    cfg = tiny_train_config(tmp_path / "run", data_dir, *overrides)
    with pytest.raises(ConfigError, match=re.escape(named)):
        train(cfg)
    assert not data_dir.exists()

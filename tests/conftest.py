"""Shared fixtures. Tests run offline: W&B disabled unless a test says otherwise."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from gaitwave.config import config_dir

os.environ.setdefault("WANDB_MODE", "disabled")


def compose_app(app: str, *overrides: str) -> DictConfig:
    """The app config (`train`, `eval`, ...) from the repository's conf/ with overrides."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(app, overrides=list(overrides))
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


@pytest.fixture(scope="session")
def compose_config() -> Callable[..., DictConfig]:
    return compose_app


@pytest.fixture
def tiny_train_config() -> Callable[..., DictConfig]:
    """`make(out, data_dir, *overrides)`: a train config on the `ci` SynthGait preset (generated
    into data_dir on first use), writing into out, quiet, loading in the main process."""

    def make(out: Path, data_dir: Path, *overrides: str) -> DictConfig:
        return compose_app(
            "train",
            f"paths.output_dir={out}",
            f"paths.data_dir={data_dir}",
            "data.synthgait.preset=ci",
            "data.datamodule.num_workers=0",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            *overrides,
        )

    return make


def read_wandb_run(run_file: Path) -> dict:
    """An offline W&B run file (`run-*.wandb`) -> {"run": Record.run, "config": {key: value},
    "summary": {key: value}, "files": [paths]}. The file is a LevelDB-style log of protobuf
    records (32 KiB blocks, 7-byte record headers after a 7-byte file header)."""
    import json
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    raw, block, pos, chunks, payload = run_file.read_bytes(), 32768, 7, [], b""
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        payload += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            chunks.append(payload)
            payload = b""
    result: dict = {"run": None, "config": {}, "summary": {}, "files": []}
    for chunk in chunks:
        record = pb.Record()
        record.ParseFromString(chunk)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            result["run"] = record.run
        elif kind == "config":
            result["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            result["summary"].update(
                {i.key: json.loads(i.value_json) for i in record.summary.update if i.key}
            )
        elif kind == "files":
            result["files"] += [f.path for f in record.files.files]
    return result


@pytest.fixture
def wandb_run_reader() -> Callable[[Path], dict]:
    return read_wandb_run

"""Checks of a composed train config, run before anything else (data generation, training).

`check_train_config(cfg)` raises `ConfigError` at the first value that cannot work, naming the
dotted key, the value, what is valid and the override that fixes it:

- `seed`, `trainer.max_steps`, `trainer.val_check_interval`: integers in range;
- `optimizer.lr` (> 0), `optimizer.weight_decay` (>= 0): finite numbers;
- every loss term's fusion and exponent schedule (`loss.<term>.fusion.schedule`): finite numbers,
  then the checks of `gaitwave.build.build_terms` (l_min <= l_max, cycles > 0, ...);
- `data.protocol`, `eval.metric`, `eval.feature`: among the known choices; `eval.per_part`:
  true or false;
- `data.datamodule`: sampler [P, K] with P at most the number of training ids, frame counts,
  frame mode, resize target, batch size, workers, P x K split over the DDP processes;
  `data.synthgait`: a known preset;
- with `check_paths`: the dataset root and partition exist, or are generated (SynthGait).

Typos in a group option (`fusion=nrom`) or a key (`trainer.max_stesp=10`) never get here: Hydra
refuses them while composing, naming the group and its options, or the key.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.seed import max_seed_value, min_seed_value
from omegaconf import Container, DictConfig, OmegaConf

from gaitwave.build import build_terms
from gaitwave.data.datamodule import creation_hint
from gaitwave.data.frames import FRAME_MODES
from gaitwave.data.index import PARTITION_FILE, load_partition
from gaitwave.data.synthgait.generate import PRESETS, id_name, split_ids
from gaitwave.evaluation import protocol_from_config
from gaitwave.evaluation.distance import METRICS
from gaitwave.evaluation.protocols import PROTOCOLS
from gaitwave.evaluation.settings import eval_settings
from gaitwave.module import MODEL_OUTPUTS

log = logging.getLogger(__name__)

DATAMODULE = "data.datamodule"
# integer keys of the datamodule: (key, smallest valid value, an example); absent keys keep
# GaitDataModule's defaults (as do an absent sampler and frame_mode)
DATAMODULE_INTEGERS = (
    ("train_frames", 1, 30),
    ("skip", 0, 4),
    ("test_frames_cap", 1, 720),
    ("test_batch_size", 1, 16),
    ("num_workers", 0, 2),
)
SCHEDULE_NUMBERS = ("l_min", "l_max", "cycles", "value")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the dotted key, the value, what is
    valid and the override that fixes it."""


def check_train_config(cfg: DictConfig, check_paths: bool = True) -> None:
    """Raise `ConfigError` at the first bad value of a composed train config (module docstring).

    Args:
        cfg: the composed `train` config.
        check_paths: also require `data.datamodule.root` and its partition file to exist unless
            the data config generates them (a `synthgait` node); False checks values only (a
            recipe composed where its dataset is not).
    """
    _check_seed(cfg)
    _check_trainer(cfg)
    _check_optimizer(cfg)
    _check_loss_terms(cfg)
    _check_evaluation(cfg)
    _check_datamodule(cfg)
    _check_synthgait(cfg)
    _check_processes(cfg)
    if check_paths:
        _check_data_paths(cfg)
    _check_ids_per_batch(cfg)


# ---- values ----


def _plain(value: Any) -> Any:
    """A config value as plain Python (lists and dicts for list and mapping nodes)."""
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value


def _show(value: Any) -> str:
    """A config value as the message shows it: lists and mappings plain, strings quoted, None
    as Hydra spells it (null)."""
    return "null" if value is None else repr(_plain(value))


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer_pair(value: Any) -> bool:
    """Whether `value` is a list of two integers."""
    value = _plain(value)
    return isinstance(value, list) and len(value) == 2 and all(_is_integer(n) for n in value)


def _fail(key: str, value: Any, valid: str, example: Any) -> ConfigError:
    return ConfigError(f"{key}={_show(value)}: {valid}; set e.g. {key}={example}")


def _integer(cfg: DictConfig, key: str, minimum: int, example: int) -> int:
    """The integer at dotted `key`, at least `minimum`."""
    value = OmegaConf.select(cfg, key)
    if not _is_integer(value) or value < minimum:
        raise _fail(key, value, f"must be an integer >= {minimum}", example)
    return value


def _number(cfg: DictConfig, key: str, minimum: float, strict: bool, example: str) -> float:
    """The finite number at dotted `key`, above `minimum` (`strict`) or at least `minimum`."""
    value = OmegaConf.select(cfg, key)
    below = not _is_finite_number(value) or (value <= minimum if strict else value < minimum)
    if below:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise _fail(key, value, f"must be a finite number {bound}", example)
    return value


def _choice(cfg: DictConfig, key: str, choices: Sequence[str]) -> None:
    value = OmegaConf.select(cfg, key)
    if value not in choices:
        raise _fail(key, value, f"must be one of {', '.join(choices)}", choices[0])


# ---- groups ----


def _check_seed(cfg: DictConfig) -> None:
    seed = cfg.get("seed")
    if not _is_integer(seed) or not min_seed_value <= seed <= max_seed_value:
        raise _fail("seed", seed, f"must be an integer in [{min_seed_value}, {max_seed_value}]", 0)


def _check_trainer(cfg: DictConfig) -> None:
    """Training runs by steps over an endless P x K loader: `max_steps` is its length and
    validation comes every `val_check_interval` steps."""
    max_steps = _integer(cfg, "trainer.max_steps", 1, 600)
    interval = _integer(cfg, "trainer.val_check_interval", 1, min(400, max_steps))
    if interval > max_steps:
        log.warning(
            "trainer.val_check_interval=%d > trainer.max_steps=%d: validation never runs "
            "during training",
            interval,
            max_steps,
        )


def _check_optimizer(cfg: DictConfig) -> None:
    _number(cfg, "optimizer.lr", 0, strict=True, example="1e-3")
    if OmegaConf.select(cfg, "optimizer.weight_decay") is not None:
        _number(cfg, "optimizer.weight_decay", 0, strict=False, example="5e-4")


def _check_loss_terms(cfg: DictConfig) -> None:
    """The schedules' numbers here (a string would reach a comparison), the rest by
    `build_terms`, which names `loss.<term>.fusion.schedule` in its errors."""
    for term, term_cfg in cfg.loss.items():
        schedule = OmegaConf.select(term_cfg, "fusion.schedule")
        for field in SCHEDULE_NUMBERS:
            value = None if schedule is None else schedule.get(field)
            if value is not None and not _is_finite_number(value):
                raise ConfigError(
                    f"loss.{term}.fusion.schedule.{field}={_show(value)}: must be a finite "
                    f"number; set e.g. fusion.schedule.{field}=1 (every term) or "
                    f"loss.{term}.fusion.schedule.{field}=1 (this term alone)"
                )
    try:
        build_terms(cfg.loss)
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _check_evaluation(cfg: DictConfig) -> None:
    """A built-in protocol name, or a mapping `protocol_from_config` reads (its errors name
    `data.protocol.<key>`); the distance and the evaluated model output."""
    protocol = _plain(cfg.data.protocol)
    if isinstance(protocol, dict):
        try:
            protocol_from_config(protocol)
        except ValueError as error:
            raise ConfigError(str(error)) from error
    else:
        _choice(cfg, "data.protocol", sorted(PROTOCOLS))
    _choice(cfg, "eval.metric", METRICS)
    _choice(cfg, "eval.feature", MODEL_OUTPUTS)
    try:
        eval_settings(cfg)  # eval.per_part
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _check_datamodule(cfg: DictConfig) -> None:
    """The sampler, the frame counts and mode, the resize target, the loaders' integers."""
    datamodule = cfg.data.datamodule
    sampler = datamodule.get("sampler")
    if "sampler" in datamodule and (not _is_integer_pair(sampler) or min(sampler) < 1):
        raise _fail(
            f"{DATAMODULE}.sampler",
            sampler,
            "must be [P, K] (ids per batch, sequences per id), two integers >= 1",
            "[8,4]",
        )
    for name, minimum, example in DATAMODULE_INTEGERS:
        if name in datamodule:
            _integer(cfg, f"{DATAMODULE}.{name}", minimum, example)
    if "frame_mode" in datamodule:
        _choice(cfg, f"{DATAMODULE}.frame_mode", FRAME_MODES)
    frames_range = datamodule.get("train_frames_range")
    needed = (datamodule.get("frame_mode") or "").startswith("unfixed")
    if needed or frames_range is not None:
        _check_frames_range(frames_range)
    height, width = datamodule.get("height"), datamodule.get("width")
    if (height is None) != (width is None):
        raise ConfigError(
            f"{DATAMODULE}.height={_show(height)}, {DATAMODULE}.width={_show(width)}: set both "
            f"(the resize target) or neither (the stored size); set e.g. {DATAMODULE}.height=64 "
            f"{DATAMODULE}.width=44"
        )
    if height is not None:
        _integer(cfg, f"{DATAMODULE}.height", 1, 64)
        _integer(cfg, f"{DATAMODULE}.width", 1, 44)


def _check_frames_range(frames_range: Any) -> None:
    """[min, max] clip lengths of the unfixed frame modes."""
    if not _is_integer_pair(frames_range) or not 1 <= frames_range[0] <= frames_range[1]:
        raise _fail(
            f"{DATAMODULE}.train_frames_range",
            frames_range,
            "the clip lengths of the unfixed frame modes: [min, max], integers with "
            "1 <= min <= max",
            "[25,30]",
        )


def _check_synthgait(cfg: DictConfig) -> None:
    """The preset and id count of a SynthGait set generated on first use."""
    if "synthgait" not in cfg.data:
        return
    _choice(cfg, "data.synthgait.preset", list(PRESETS))
    if cfg.data.synthgait.get("num_ids") is not None:
        _integer(cfg, "data.synthgait.num_ids", 2, 124)


# ---- data on disk ----


def _partition_path(datamodule: DictConfig) -> Path:
    partition = datamodule.get("partition")
    return Path(partition) if partition is not None else Path(datamodule.root) / PARTITION_FILE


def _check_data_paths(cfg: DictConfig) -> None:
    """The root and partition exist, or the data config generates them (`synthgait`)."""
    if "synthgait" in cfg.data:
        return
    datamodule = cfg.data.datamodule
    root, partition = Path(datamodule.root), _partition_path(datamodule)
    hint = creation_hint(root, datamodule.get("layout"))
    if not root.is_dir():
        raise ConfigError(
            f"{DATAMODULE}.root={str(root)!r}: no such folder; {hint}, or set "
            f"{DATAMODULE}.root=<your copy> (or paths.data_dir=<the folder holding it>)"
        )
    if not partition.is_file():
        raise ConfigError(
            f"{DATAMODULE}.partition={str(partition)!r}: no such file; {hint}, or set "
            f"{DATAMODULE}.partition=<your partition JSON>"
        )


def _training_ids(cfg: DictConfig) -> tuple[int, str] | None:
    """(number of training ids, where that comes from): the partition file's TRAIN_SET, or the
    SynthGait preset that will be generated, less the excluded and test-only ids; None when
    neither is known yet."""
    datamodule = cfg.data.datamodule
    left_out = {
        str(id_)
        for key in ("exclude_train_ids", "test_only_ids")
        for id_ in datamodule.get(key) or ()
    }
    partition = _partition_path(datamodule)
    if partition.is_file():
        train = load_partition(partition)["TRAIN_SET"]
        return len(set(train) - left_out), f"TRAIN_SET of {partition}"
    if "synthgait" in cfg.data:
        generator = cfg.data.synthgait
        num_ids = generator.get("num_ids") or PRESETS[generator.preset].num_ids
        train = split_ids([id_name(number) for number in range(1, num_ids + 1)])["TRAIN_SET"]
        return len(set(train) - left_out), f"SynthGait preset {generator.preset} ({num_ids} ids)"
    return None


def _check_processes(cfg: DictConfig) -> None:
    """The global P x K batch splits over the processes (`trainer.devices` x
    `trainer.num_nodes`, when both are numbers)."""
    devices, nodes = cfg.trainer.get("devices", 1), cfg.trainer.get("num_nodes", 1)
    if "sampler" not in cfg.data.datamodule or not (_is_integer(devices) and _is_integer(nodes)):
        return
    p, k = cfg.data.datamodule.sampler
    processes = devices * nodes
    if processes > 0 and (p * k) % processes:
        raise _fail(
            f"{DATAMODULE}.sampler",
            cfg.data.datamodule.sampler,
            f"the global batch P * K = {p * k} does not split over {processes} processes "
            f"(trainer.devices={devices} x trainer.num_nodes={nodes}); choose P (best) or K "
            f"divisible by {processes}",
            f"[{processes * max(1, p // processes)},{k}]",
        )


def _check_ids_per_batch(cfg: DictConfig) -> None:
    """P (ids per batch, distinct) is at most the number of training ids."""
    counted = _training_ids(cfg)
    if counted is None or "sampler" not in cfg.data.datamodule:
        return
    ids, source = counted
    p, k = cfg.data.datamodule.sampler
    if p > ids:
        raise _fail(
            f"{DATAMODULE}.sampler",
            cfg.data.datamodule.sampler,
            f"P = {p} distinct ids per batch, but the training split has {ids} ids ({source}); "
            f"P must be <= {ids}",
            f"[{ids},{k}]",
        )

"""The evaluation settings of a run config, read in one place: protocol, distance, feature.

- ``data.protocol``: which sequences are gallery and probes depends on the dataset (its types
  and views), so each data config names its protocol (a built-in name, or a mapping: see
  :func:`gaitwave.evaluation.protocol_from_config`).
- ``eval.metric`` (``euc`` | ``cos``) and ``eval.feature`` (``embeddings`` |
  ``bn_embeddings``): how the model's outputs are compared, the same for every dataset
  (``conf/train.yaml``); ``eval.per_part``: the test also evaluates each part alone.

Before they were put together, the distance was ``data.metric`` and the feature ``eval_feature``:
a config that still sets one fails naming its new key, and checkpoints written then are read
with :func:`upgrade_moved_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf, open_dict

# old key -> new key (dotted paths in a run config)
MOVED_KEYS = {"data.metric": "eval.metric", "eval_feature": "eval.feature"}


@dataclass(frozen=True)
class EvalSettings:
    """What `GaitModule` evaluates with: the protocol as plain data (a name or a mapping, parsed
    by the module), the distance and the model output."""

    protocol: str | dict
    metric: str
    feature: str
    per_part: bool = False


def eval_settings(cfg: DictConfig) -> EvalSettings:
    """The evaluation settings of a composed run config (module docstring)."""
    for old, new in MOVED_KEYS.items():
        value = OmegaConf.select(cfg, old)
        if value is not None:
            raise ValueError(
                f"{old} moved to {new}: set `{new}={value}` instead (on the command line or in "
                f"your config) and remove {old}"
            )
    protocol = cfg.data.protocol
    if isinstance(protocol, DictConfig):
        protocol = OmegaConf.to_container(protocol, resolve=True)
    per_part = cfg.eval.get("per_part", False)
    if not isinstance(per_part, bool):
        raise ValueError(
            f"eval.per_part={per_part!r}: must be true or false; set e.g. eval.per_part=true"
        )
    return EvalSettings(
        protocol=protocol, metric=cfg.eval.metric, feature=cfg.eval.feature, per_part=per_part
    )


def upgrade_moved_keys(cfg: DictConfig) -> DictConfig:
    """``cfg`` (a checkpoint's run config) with the keys of :data:`MOVED_KEYS` at their new
    place; a config without them is returned as it is."""
    if "eval" in cfg:
        return cfg
    with open_dict(cfg):
        metric = cfg.data.pop("metric", "euc")
        feature = cfg.pop("eval_feature", "embeddings")
        cfg.eval = {"metric": metric, "feature": feature}
    return cfg

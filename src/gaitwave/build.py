"""Build the model and the training objects from a composed run config.

Checkpoints hold no pickled modules: a model is rebuilt from the run's saved config plus the state
dict, with the same functions that built it for training.
"""

from __future__ import annotations

from hydra.utils import instantiate
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from gaitwave.module import GaitModule, LossTerm


def build_terms(loss_cfg: DictConfig) -> dict[str, LossTerm]:
    """One `LossTerm` per entry of the `loss` group: `{name: {loss, fusion, weight, input}}`."""
    terms = {}
    for name, term in loss_cfg.items():
        missing = [key for key in ("loss", "fusion") if key not in term]
        if missing:
            raise ValueError(
                f"loss term '{name}' lacks {missing}; each entry of the `loss` config group needs "
                "`loss` (a _target_), `fusion` (a _target_, default ${fusion}), `weight`, `input`"
            )
        terms[name] = LossTerm(
            loss=instantiate(term.loss),
            fusion=instantiate(term.fusion),
            weight=term.get("weight", 1.0),
            input=term.get("input", "embeddings"),
        )
    return terms


def build_module(cfg: DictConfig, num_classes: int) -> GaitModule:
    """GaitModule from the `backbone`, `head`, `loss`, `optimizer`, `scheduler` groups."""
    backbone = instantiate(cfg.backbone)
    head = instantiate(cfg.head)(in_channels=backbone.out_channels, num_classes=num_classes)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    return GaitModule(
        backbone=backbone,
        head=head,
        terms=build_terms(cfg.loss),
        optimizer=instantiate(cfg.optimizer),
        scheduler=scheduler,
        protocol=protocol_config(cfg.data),
        metric=cfg.data.get("metric", "euc"),
        eval_feature=cfg.get("eval_feature", "embeddings"),
        config=OmegaConf.to_container(cfg, resolve=True),
        num_classes=num_classes,
    )


def protocol_config(data_cfg: DictConfig) -> str | dict:
    """`data.protocol`: a name (`casiab`; what older checkpoints store) or the `protocol:`
    subtree as a plain dict (parsed and checked by `GaitModule`)."""
    protocol = data_cfg.protocol
    if isinstance(protocol, DictConfig):
        return OmegaConf.to_container(protocol, resolve=True)
    return protocol


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    """The `callbacks` group plus the exponent schedule (`exponent` group)."""
    configs = list((cfg.get("callbacks") or {}).values())
    if cfg.get("exponent"):
        configs.append(cfg.exponent)
    return [instantiate(c) for c in configs if c is not None and "_target_" in c]


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """The `logger` group: CSV by default, W&B with `logger=wandb`, none with `logger=none`."""
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if "_target_" in c]

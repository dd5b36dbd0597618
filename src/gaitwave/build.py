"""Build the model and the training objects from a composed run config.

Checkpoints hold no pickled modules: a model is rebuilt from the run's saved config plus the state
dict, with the same functions that built it for training.
"""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from gaitwave.callbacks import ExponentCallback
from gaitwave.callbacks.preemption import PreemptionCheckpoint
from gaitwave.checkpoint import last_checkpoint
from gaitwave.evaluation.settings import eval_settings
from gaitwave.fusion import Fusion
from gaitwave.module import GaitModule, LossTerm
from gaitwave.tracking import resume_kwargs, start_wandb, wandb_identity

NORM_FUSION = "gaitwave.fusion.NormFusion"
WANDB_LOGGER = "lightning.pytorch.loggers.WandbLogger"
LR_MONITOR = "lightning.pytorch.callbacks.LearningRateMonitor"


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
            fusion=build_fusion(name, term.fusion),
            weight=term.get("weight", 1.0),
            input=term.get("input", "embeddings"),
        )
    return terms


def build_fusion(term: str, fusion_cfg: DictConfig) -> Fusion:
    """The fusion of loss term `term`; a schedule on a fusion that is not norm-fusion, or a bad
    schedule, fails here (before training) naming the key."""
    target = fusion_cfg.get("_target_", "")
    schedule = fusion_cfg.get("schedule")
    key = f"loss.{term}.fusion.schedule"
    if schedule is not None and target != NORM_FUSION:
        raise ValueError(
            f"{key}: an exponent schedule only acts on norm-fusion, but this term's fusion is "
            f"{target}; use fusion=norm, or drop the schedule from this term"
        )
    if schedule is not None:
        try:
            instantiate(schedule)
        except Exception as error:  # hydra wraps the schedule's ValueError
            reason = error.__cause__ or error
            raise ValueError(
                f"{key} (set with fusion.schedule.* for every term, or {key}.* for this term "
                f"alone): {reason}"
            ) from error
    fusion = instantiate(fusion_cfg)
    if not isinstance(fusion, Fusion):
        raise ValueError(
            f"loss.{term}.fusion: {target} is not a gaitwave fusion; use fusion=post, pre or norm"
        )
    return fusion


def build_module(cfg: DictConfig, num_classes: int) -> GaitModule:
    """GaitModule from the `backbone`, `head`, `loss`, `optimizer`, `scheduler` groups."""
    backbone = instantiate(cfg.backbone)
    head = instantiate(cfg.head)(in_channels=backbone.out_channels, num_classes=num_classes)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    evaluation = eval_settings(cfg)
    return GaitModule(
        backbone=backbone,
        head=head,
        terms=build_terms(cfg.loss),
        optimizer=instantiate(cfg.optimizer),
        scheduler=scheduler,
        protocol=evaluation.protocol,
        metric=evaluation.metric,
        eval_feature=evaluation.feature,
        eval_per_part=evaluation.per_part,
        config=OmegaConf.to_container(cfg, resolve=True),
        num_classes=num_classes,
    )


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    """The `callbacks` group plus two present whatever it says: the `ExponentCallback`, which
    moves the exponent of every scheduled norm-fusion (part of the method), and the
    `PreemptionCheckpoint`, which answers SIGTERM / SIGINT / SIGUSR1 with a checkpoint."""
    configs = [c for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    if not has_loggers(cfg):  # nothing to monitor the learning rate into
        configs = [c for c in configs if c._target_ != LR_MONITOR]
    preemption = PreemptionCheckpoint(last_checkpoint(cfg.paths.output_dir))
    return [instantiate(c) for c in configs] + [ExponentCallback(), preemption]


def has_loggers(cfg: DictConfig) -> bool:
    """Whether the `logger` group configures any logger (`logger=none` does not)."""
    return any("_target_" in c for c in (cfg.get("logger") or {}).values())


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """The `logger` group: CSV by default, W&B with `logger=wandb`, none with `logger=none`.
    A W&B logger's unset `name`, `group` and `job_type` come from the run (`wandb_identity`);
    its run starts here, continues the folder's W&B run when resuming (`resume_kwargs`), and is
    left out, after one warning, when W&B cannot start (`start_wandb`)."""
    loggers = []
    for logger_cfg in (cfg.get("logger") or {}).values():
        if "_target_" not in logger_cfg:
            continue
        if logger_cfg._target_ == WANDB_LOGGER:
            identity = wandb_identity(cfg)
            unset = {k: v for k, v in identity.items() if logger_cfg.get(k) is None}
            wandb_logger = instantiate(logger_cfg, **unset, **resume_kwargs(cfg))
            if start_wandb(wandb_logger, Path(cfg.paths.output_dir)):
                loggers.append(wandb_logger)
        else:
            loggers.append(instantiate(logger_cfg))
    return loggers

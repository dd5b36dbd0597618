"""W&B runs that a dashboard can group: identity, filterable facts, final metrics.

- group: the multirun folder (every job of one sweep shares it); none for a single run.
- job_type: the ablation (`fusion`, `exponent`, ...), else the task (`train`).
- name: the job's row and seed (`norm-seed1`), else its overrides (`fusion=pre,seed=2`), else
  the task name.
- config: flat facts to filter and group by (`fusion`, `l_min`, `l_max`, `loss`, `seed`, ...)
  plus the whole resolved run config under `config`.
- summary: the final test metrics (`test/...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def _hydra_job() -> tuple[str | None, str]:
    """(the multirun folder or None, the job's overrides as `k=v,k=v`) of the running app."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, ""
    hydra_cfg = HydraConfig.get()
    sweep = str(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
    return sweep, hydra_cfg.job.override_dirname


def wandb_identity(cfg: DictConfig) -> dict[str, str | None]:
    """`name`, `group` and `job_type` of this run's W&B run (see the module docstring)."""
    sweep, overrides = _hydra_job()
    task = cfg.get("task_name", "train")
    name = f"{cfg.row}-seed{cfg.seed}" if cfg.get("row") is not None else overrides or task
    group = f"{task}/{Path(sweep).name}" if sweep else None
    return {"name": name, "group": group, "job_type": cfg.get("ablation") or task}


def _short(target: str) -> str:
    """`gaitwave.fusion.NormFusion` -> `norm`."""
    return target.rsplit(".", 1)[-1].removesuffix("Fusion").lower()


def run_facts(cfg: DictConfig) -> dict[str, Any]:
    """Flat facts of a run config to group and filter by: seed, ablation, row, loss terms,
    fusion (one name, or `term:name` per term when they differ), and the first norm-fusion
    term's switches and l range (a static l gives l_min = l_max = l)."""
    terms = cfg.loss
    fusions = {name: _short(term.fusion._target_) for name, term in terms.items()}
    kinds = set(fusions.values())
    fusion = kinds.pop() if len(kinds) == 1 else ",".join(f"{t}:{f}" for t, f in fusions.items())
    facts: dict[str, Any] = {
        "seed": cfg.seed,
        "ablation": cfg.get("ablation"),
        "row": cfg.get("row"),
        "loss": "+".join(terms.keys()),
        "fusion": fusion,
        "backbone": cfg.backbone._target_.rsplit(".", 1)[-1],
    }
    norm = next((terms[t].fusion for t, f in fusions.items() if f == "norm"), None)
    if norm is not None:
        schedule = norm.get("schedule")
        facts["truncate"] = norm.get("truncate", True)
        facts["normalize"] = norm.get("normalize", True)
        if schedule is None:
            facts["l_min"] = facts["l_max"] = norm.get("exponent", 0.0)
            facts["l_schedule"] = "static"
        elif schedule.get("mode") == "static":
            facts["l_min"] = facts["l_max"] = schedule.value
            facts["l_schedule"] = "static"
        else:
            facts["l_min"], facts["l_max"] = schedule.l_min, schedule.l_max
            facts["l_schedule"] = schedule.mode
            facts["cycles"] = schedule.cycles
    return facts


def wandb_loggers(loggers: list) -> list:
    from lightning.pytorch.loggers import WandbLogger

    return [logger for logger in loggers if isinstance(logger, WandbLogger)]


def log_run_config(loggers: list, cfg: DictConfig) -> None:
    """Every W&B logger's run config: the facts plus the resolved config under `config`."""
    for logger in wandb_loggers(loggers):
        resolved = OmegaConf.to_container(cfg, resolve=True)
        logger.experiment.config.update({**run_facts(cfg), "config": resolved})


def log_final_metrics(loggers: list, metrics: dict[str, float]) -> None:
    """The final test metrics into every W&B run summary (`test/<key>`)."""
    for logger in wandb_loggers(loggers):
        logger.experiment.summary.update({f"test/{k}": v for k, v in metrics.items()})

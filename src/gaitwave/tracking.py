"""W&B runs that a dashboard can group: identity, filterable facts, final metrics.

- group: the multirun folder (every job of one sweep shares it); none for a single run.
- job_type: the ablation (`fusion`, `exponent`, ...), else the task (`train`).
- name: the job's row and seed (`norm-seed1`), else its overrides (`fusion=pre,seed=2`), else
  the task name.
- config: flat facts to filter and group by (`fusion`, `l_min`, `l_max`, `loss`, `seed`, ...)
  plus the whole resolved run config under `config`.
- summary: the final test metrics (`test/...`).

W&B trouble never stops training: a run that cannot start (not logged in, no network, service
down) or a W&B call that fails later logs one warning naming the fix, and training goes on with
the other loggers. A run resumed from a checkpoint (`ckpt_path`) in its own folder continues the
same W&B run: the id of the folder's first W&B run is kept in `<run folder>/wandb_run_id`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gaitwave.atomic import write_text

if TYPE_CHECKING:
    from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)

RUN_ID_FILE = "wandb_run_id"
WANDB_FIX = (
    "to log to W&B, run `wandb login` (or set WANDB_API_KEY) and check the network, or log "
    "offline with logger.wandb.offline=true; to train without W&B, use logger=csv"
)


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
        with wandb_trouble_warns("log the run config"):
            logger.experiment.config.update({**run_facts(cfg), "config": resolved})


def log_final_metrics(loggers: list, metrics: dict[str, float]) -> None:
    """The final test metrics into every W&B run summary (`test/<key>`)."""
    for logger in wandb_loggers(loggers):
        with wandb_trouble_warns("log the test metrics"):
            logger.experiment.summary.update({f"test/{k}": v for k, v in metrics.items()})


def warn_wandb_trouble(action: str, error: Exception) -> None:
    """The one warning for a W&B failure: what failed, the error, and the fix."""
    log.warning(
        "W&B could not %s (%s: %s); the run goes on without W&B. Fix: %s",
        action,
        type(error).__name__,
        error,
        WANDB_FIX,
    )


@contextmanager
def wandb_trouble_warns(action: str) -> Iterator[None]:
    """Run W&B calls; an error in them becomes a warning (`warn_wandb_trouble`), not a crash."""
    try:
        yield
    except Exception as error:  # any W&B failure: CommError, UsageError, timeouts, OSError
        warn_wandb_trouble(action, error)


def resume_kwargs(cfg: DictConfig) -> dict[str, str]:
    """`{"id": <stored id>, "resume": "allow"}` for the W&B logger when this run resumes from a
    checkpoint (`ckpt_path` set) in a folder whose earlier start stored its W&B run id; else {}."""
    id_file = Path(cfg.paths.output_dir) / RUN_ID_FILE
    if cfg.get("ckpt_path") is None or not id_file.is_file():
        return {}
    return {"id": id_file.read_text().strip(), "resume": "allow"}


def start_wandb(logger: WandbLogger, run_dir: Path) -> bool:
    """Start the logger's W&B run now (W&B would start it at its first use, mid-training) and
    store its id in `run_dir/wandb_run_id`. False, after one warning, when it cannot start."""
    mode = os.environ.get("WANDB_MODE")
    try:
        run = logger.experiment
    except Exception as error:  # not logged in, no network, service down, init timeout
        warn_wandb_trouble("start its run", error)
        return False
    finally:  # WandbLogger(offline=True) sets WANDB_MODE for the process (the next job's config)
        if mode is None:
            os.environ.pop("WANDB_MODE", None)
        else:
            os.environ["WANDB_MODE"] = mode
    if rank_zero_only.rank == 0 and not run.disabled:  # WANDB_MODE=disabled: no run to keep
        write_text(Path(run_dir) / RUN_ID_FILE, run.id + "\n")
    return True

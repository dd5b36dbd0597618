"""Which checkpoint a run starts from, so that an interrupted run or sweep is one command to finish.

A run folder (`paths.output_dir`) with `status.json` tells what an earlier start did there:
- "completed": the job is done; `gaitwave-train` skips it (a re-run sweep skips its finished
  jobs), unless `ckpt_path` asks to train on (e.g. with a larger `trainer.max_steps`).
- "running" (killed hard), "interrupted" (stopped by a signal) or "failed": with `resume: true`
  (the default) the run continues from `checkpoints/last.ckpt` when there is one, else it starts
  again from step 0. The folder must hold the same run: a config that differs is an error.
- `ckpt_path=last` resumes from the folder's `checkpoints/last.ckpt` (fresh when there is none
  yet), whatever the config; `ckpt_path=<file>` from that checkpoint.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gaitwave.checkpoint import LAST_CHECKPOINT, last_checkpoint
from gaitwave.run_status import COMPLETED, read_status

log = logging.getLogger(__name__)

# keys that may change between the starts of one run: how it starts, where it logs and prints
RESTART_KEYS = ("ckpt_path", "resume", "threads", "paths", "logger", "trainer.enable_progress_bar")


class RunFolderMismatch(ValueError):
    """The run folder holds an unfinished run with another config."""


def is_completed(run_dir: Path) -> bool:
    status = read_status(run_dir)
    return status is not None and status.get("status") == COMPLETED


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flat(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): node}


def _restart_key(key: str) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in RESTART_KEYS)


def config_differences(cfg: DictConfig, saved: Path) -> list[str]:
    """Dotted keys whose values differ between `cfg` and the config saved in `saved` (keys
    that may change between starts of one run left out)."""
    before = _flat(OmegaConf.to_container(OmegaConf.load(saved), resolve=True))
    now = _flat(OmegaConf.to_container(cfg, resolve=True))
    keys = sorted(k for k in before.keys() | now.keys() if not _restart_key(k))
    return [k for k in keys if before.get(k, "<unset>") != now.get(k, "<unset>")]


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint this start continues from (None: train from step 0); see the module
    docstring. Raises `RunFolderMismatch` when an unfinished run with another config is there."""
    run_dir = Path(run_dir)
    requested = cfg.get("ckpt_path")
    if requested not in (None, "last"):
        return Path(requested)
    last = last_checkpoint(run_dir)
    if requested == "last":
        if not last.is_file():
            log.warning("ckpt_path=last: no %s yet, training from step 0", last)
            return None
        return last
    status = read_status(run_dir)
    if status is None or not cfg.get("resume", True):
        return None
    saved = run_dir / "config.yaml"
    if saved.is_file():
        differences = config_differences(cfg, saved)
        if differences:
            shown = ", ".join(differences[:8]) + (" ..." if len(differences) > 8 else "")
            raise RunFolderMismatch(
                f"{run_dir} holds an unfinished run ({status.get('status')}) whose config "
                f"differs from this one at: {shown}. To continue that run with these changes, "
                "add ckpt_path=last; to start a new run, choose another folder "
                "(hydra.run.dir= / hydra.sweep.dir=), or resume=false to train from step 0 here"
            )
    if not last.is_file():
        return None
    log.info("%s: resuming the %s run from %s", run_dir, status.get("status"), last)
    return last


def resume_command(run_dir: Path) -> str:
    """How to continue the run in `run_dir`: the multirun command with its sweep folder, or
    this run's command with its run folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return f"train again with paths.output_dir={run_dir} (it resumes from {LAST_CHECKPOINT})"
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return (
            f"re-run the same multirun command with hydra.sweep.dir={hydra_cfg.sweep.dir} "
            "(finished jobs are skipped, unfinished ones resume)"
        )
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith("hydra.run.dir=")]
    words = ["gaitwave-train", *overrides, f"hydra.run.dir={run_dir}"]
    return " ".join(shlex.quote(word) for word in words)

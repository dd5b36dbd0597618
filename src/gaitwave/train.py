"""gaitwave-train: train a gait model, evaluate it under the dataset's protocol, write the report.

gaitwave-train                                   # the default experiment on SynthGait
gaitwave-train fusion=post                       # post-fusion instead of Waveloss
gaitwave-train -m fusion=pre,post,norm           # a Hydra multirun sweep
gaitwave-train -m +ablation=fusion experiment=synthgait_quick   # the paper's Table 5
gaitwave-train debug=fdr                         # fast_dev_run
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console

from gaitwave.atomic import write_text
from gaitwave.build import build_callbacks, build_loggers, build_module
from gaitwave.callbacks.preemption import (
    STOP,
    PreemptionCheckpoint,
    RunInterrupted,
    stop_on_signals,
)
from gaitwave.checkpoint import AtomicCheckpointIO
from gaitwave.config import config_dir
from gaitwave.evaluation import Protocol, get_protocol
from gaitwave.evaluation.protocols import CASIAB
from gaitwave.resume import is_completed, resume_checkpoint, resume_command
from gaitwave.run_folder import ensure_writable
from gaitwave.run_status import RunStatus
from gaitwave.tracking import (
    log_final_metrics,
    log_run_config,
    wandb_loggers,
    wandb_trouble_warns,
)
from gaitwave.validation import check_train_config

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"  # the test metrics, written by the protocol's report


def ensure_data(data_cfg: DictConfig) -> None:
    """Generate the SynthGait set named by the data config if it is not on disk yet."""
    partition = Path(data_cfg.datamodule.partition)
    if partition.is_file() or "synthgait" not in data_cfg:
        return
    from gaitwave.data.synthgait import generate

    gen = data_cfg.synthgait
    root = Path(data_cfg.datamodule.root)
    log.info(
        "SynthGait data missing at %s: generating preset=%s seed=%s", root, gen.preset, gen.seed
    )
    generate(
        root,
        preset=gen.preset,
        seed=gen.seed,
        format="pkl",
        workers=gen.get("workers", 2),
        num_ids=gen.get("num_ids"),
        frames=gen.get("frames"),
        progress=True,
    )


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test and report; returns the test metrics (flat keys, percent)."""
    check_train_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    ensure_data(cfg.data)
    datamodule = instantiate(cfg.data.datamodule)
    datamodule.setup("fit")
    module = build_module(cfg, num_classes=datamodule.num_classes)
    loggers = build_loggers(cfg)
    callbacks = build_callbacks(cfg)
    preemption = next(c for c in callbacks if isinstance(c, PreemptionCheckpoint))
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )

    log_run_config(loggers, cfg)
    with wandb_trouble_warns("define its summary metrics"):
        summarise_max_in_wandb(loggers, module.protocol)
    with stop_on_signals():
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        preemption.raise_if_stopped(trainer)  # stopped after the last step
    if not cfg.get("test", True):
        return {}
    trainer.test(module, datamodule=datamodule)
    evaluation = module.test_evaluation
    metrics = evaluation.metrics
    if not trainer.is_global_zero:  # under DDP, rank zero alone reports
        return metrics
    log_final_metrics(loggers, metrics)
    console = Console()
    if not trainer.fast_dev_run:
        files = module.protocol.report(evaluation, out_dir, console)
        with wandb_trouble_warns("log the report"):
            log_report_to_wandb(loggers, files, metrics)
    if cfg.get("gei_baseline") and module.protocol == CASIAB:
        print_gei_baseline(cfg, metrics, console)
    console.print(f"Run folder: {out_dir}")
    return metrics


def log_report_to_wandb(loggers: list, files: dict[str, Path], metrics: dict[str, float]) -> None:
    """W&B: the report's per-view table (long format) and view heatmaps where it has them;
    without a per-view table (retrieval protocols), a `metric, value` table."""
    for logger in wandb_loggers(loggers):
        if "per_view" not in files:
            rows = [[key, value] for key, value in metrics.items()]
            logger.log_table(key="test/metrics", columns=["metric", "value"], data=rows)
            continue
        with open(files["per_view"]) as f:
            rows = list(csv.reader(f))
        logger.log_table(key="test/per_view", columns=rows[0], data=rows[1:])
        if "heatmaps" in files:
            logger.log_image(key="test/view_heatmaps", images=[str(files["heatmaps"])])


def summarise_max_in_wandb(loggers: list, protocol: Protocol) -> None:
    """W&B run summaries keep the best validation value of the protocol's metric keys (rank-1,
    mAP, ...), not the last."""
    for logger in wandb_loggers(loggers):
        for key in protocol.metric_keys:
            logger.experiment.define_metric(f"val/{key}", summary="max")


def print_gei_baseline(cfg: DictConfig, metrics: dict[str, float], console: Console) -> None:
    """GEI + Euclidean nearest neighbour on the same test split, side by side with the model."""
    from gaitwave.data.synthgait.calibrate import gei_view_matrices, summarise

    gei = summarise(gei_view_matrices(Path(cfg.data.datamodule.root)))
    console.print("[bold]Cross-view rank-1 (%), identical views excluded: model vs GEI-NN[/bold]")
    for cond in ("NM", "BG", "CL"):
        model = metrics.get(f"{cond}/rank1", float("nan"))
        base = gei[f"{cond}/cross"]
        console.print(
            f"  {cond}: model {model:6.2f}   GEI-NN {base:6.2f}   gain {model - base:+6.2f}"
        )


@hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Console entry (see `run_job`)."""
    return run_job(cfg)


def run_job(cfg: DictConfig) -> float | None:
    """One job in its run folder: returns `mean/rank1` (retrieval protocols: `rank1`) so Hydra
    sweepers can optimise it. The folder's `status.json` says whether the job completed, failed
    or was interrupted; a folder whose run completed is skipped (unless `ckpt_path` is given),
    an unfinished one resumes (`gaitwave.resume`). Stopped by a signal, a single run exits with
    128 + the signal number, a multirun job raises `RunInterrupted` (the sweep lists it)."""
    run_dir = Path(cfg.paths.output_dir)
    headline = get_protocol(cfg.data.protocol).headline_key
    if cfg.get("ckpt_path") is None and is_completed(run_dir):
        log.info("%s: this run completed earlier (status.json); skipped", run_dir)
        return read_metrics(run_dir).get(headline)
    checkpoint = resume_checkpoint(cfg, run_dir)
    with open_dict(cfg):
        cfg.ckpt_path = None if checkpoint is None else str(checkpoint)
    ensure_writable(run_dir)
    status = RunStatus(run_dir)
    try:
        if STOP:  # an earlier job of this process was asked to stop: start no other
            raise RunInterrupted(STOP.signal_name, 0, None)
        metrics = train(cfg)
    except RunInterrupted as stop:
        resume = resume_command(run_dir)
        status.interrupted(stop, stop.checkpoint, resume)
        log.warning("Run %s; to resume: %s", stop, resume)
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        raise SystemExit(stop.exit_code) from None
    except BaseException as error:
        status.failed(error)
        raise
    finally:
        finish_wandb()
    status.completed()
    return metrics.get(headline)


def read_metrics(run_dir: Path) -> dict[str, float]:
    """The test metrics a completed run wrote (`metrics.json`), or {} without one."""
    path = run_dir / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def finish_wandb() -> None:
    """One W&B run per job: close the run of this job (multirun jobs share a process)."""
    import wandb

    if wandb.run is not None:
        with wandb_trouble_warns("close its run"):
            wandb.finish()


if __name__ == "__main__":
    main()

"""W&B trouble never stops training (one warning naming the fix, the other loggers go on), and a
resumed run continues its W&B run (same id)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
import torch
import wandb
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from gaitwave.build import build_loggers
from gaitwave.tracking import RUN_ID_FILE

TINY = (
    "debug=tiny",
    "logger=wandb",
    "trainer.max_steps=4",
    "trainer.val_check_interval=4",
    "trainer.log_every_n_steps=1",
)
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: every request is refused at once


def online_at_a_closed_port(**settings: object) -> list[str]:
    """Overrides: W&B online, against a server that refuses every connection. Given to
    wandb.init as settings: W&B reads its settings from the environment once per process."""
    given = {"base_url": f'"{CLOSED_PORT}"', "init_timeout": 5, **settings}
    return [
        "logger.wandb.offline=false",
        "+logger.wandb.settings._target_=wandb.Settings",
        *(f"+logger.wandb.settings.{key}={value}" for key, value in given.items()),
    ]


@pytest.fixture(autouse=True)
def no_wandb_run_left() -> None:
    """A W&B run a test leaves open is closed."""
    yield
    if wandb.run is not None:
        wandb.finish()


def without_wandb_account(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No API key anywhere (an empty home, no WANDB_API_KEY), no WANDB_MODE."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / "wandb-config"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)


def wandb_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("gaitwave")
    ]


def assert_one_warning_with_the_fix(caplog: pytest.LogCaptureFixture, *words: str) -> None:
    (message,) = wandb_warnings(caplog)
    for part in ("W&B", "wandb login", "logger.wandb.offline=true", "logger=csv", *words):
        assert part in message, message


def train_losses(run_dir: Path) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


def test_wandb_online_without_a_key_warns_once_and_training_completes(
    tmp_path: Path, ci_data: Path, tiny_train_config, run_with_fault, monkeypatch, caplog
) -> None:
    """`logger.wandb.offline=false` without `wandb login`: W&B refuses (UsageError), the run
    completes with the CSV logger."""
    without_wandb_account(monkeypatch, tmp_path / "home")
    run = tmp_path / "run"
    cfg = tiny_train_config(run, ci_data, *TINY, *online_at_a_closed_port(), "test=false")
    with caplog.at_level(logging.WARNING):
        run_with_fault(cfg)
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert len(train_losses(run)) >= 1
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (run / RUN_ID_FILE).exists()
    assert_one_warning_with_the_fix(caplog, "UsageError", "start its run")


@pytest.mark.slow
def test_wandb_server_unreachable_warns_once_and_training_completes(
    tmp_path: Path, ci_data: Path, tiny_train_config, run_with_fault, monkeypatch, caplog
) -> None:
    """A key, but the W&B server refuses every connection: wandb.init gives up (CommError after
    its retries, ~15 s), the run completes with the CSV logger."""
    without_wandb_account(monkeypatch, tmp_path / "home")
    unknown_key = online_at_a_closed_port(api_key="x" * 40)  # well-formed, known to no server
    run = tmp_path / "run"
    cfg = tiny_train_config(run, ci_data, *TINY, *unknown_key, "test=false")
    with caplog.at_level(logging.WARNING):
        run_with_fault(cfg)
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert len(train_losses(run)) >= 1
    assert_one_warning_with_the_fix(caplog, "CommError")


@pytest.mark.parametrize(
    "error",
    [
        wandb.errors.CommError("Network error (ConnectionError), entering retry loop"),
        wandb.errors.AuthenticationError("API key is invalid"),
        wandb.errors.UsageError("api_key not configured (no-tty)"),
        wandb.errors.CommError("Run initialization has timed out after 90.0 sec"),
        TimeoutError("timed out"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_wandb_run_that_cannot_start_leaves_the_other_loggers(
    tmp_path: Path, compose_config, monkeypatch, caplog, error: Exception
) -> None:
    def refuse(**kwargs: object) -> None:
        raise error

    monkeypatch.setattr(wandb, "init", refuse)
    cfg = compose_config("train", f"paths.output_dir={tmp_path}", "logger=wandb")
    with caplog.at_level(logging.WARNING):
        loggers = build_loggers(cfg)
    (left,) = loggers
    assert isinstance(left, CSVLogger)
    assert_one_warning_with_the_fix(caplog, type(error).__name__, str(error))


def test_wandb_failing_after_training_warns_and_the_report_is_written(
    tmp_path: Path, ci_data: Path, tiny_train_config, run_with_fault, monkeypatch, caplog
) -> None:
    """The W&B service dies after training: logging the report and the summary fails, the run
    still writes its report and completes."""
    monkeypatch.setenv("WANDB_MODE", "offline")

    def service_gone(*args: object, **kwargs: object) -> None:
        raise wandb.errors.CommError("the W&B service process has stopped")

    monkeypatch.setattr(WandbLogger, "log_table", service_gone)
    monkeypatch.setattr(wandb.sdk.wandb_summary.Summary, "update", service_gone)
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        run_with_fault(tiny_train_config(run, ci_data, *TINY))
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert json.loads((run / "metrics.json").read_text())["mean/rank1"] >= 0.0
    messages = wandb_warnings(caplog)
    assert len(messages) == 2, messages
    assert "log the test metrics" in messages[0] and "log the report" in messages[1]
    assert all("CommError" in m and "logger=csv" in m for m in messages)


def test_a_resumed_run_continues_its_wandb_run(
    tmp_path: Path, ci_data: Path, tiny_train_config, run_with_fault, monkeypatch, wandb_run_reader
) -> None:
    """A first start crashes after step 5 (last checkpoint: step 4); the second start in the
    folder resumes from it and logs to the same W&B run (offline: one run file per start)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = tmp_path / "run"
    cfg = tiny_train_config(run, ci_data, *TINY, "test=false", "trainer.max_steps=8")

    def crash(trainer: object) -> None:
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_with_fault(cfg, 5, crash)
    kept = (run / RUN_ID_FILE).read_text().strip()
    run_with_fault(cfg)
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    starts = sorted(run.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(starts) == 2
    assert [wandb_run_reader(f)["run"].run_id for f in starts] == [kept, kept]
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["global_step"] == 8

"""Stop on SIGTERM, SIGINT or SIGUSR1 (SLURM preemption) with a checkpoint to resume from.

`stop_on_signals()` (around `trainer.fit`) turns those signals into a request; the
`PreemptionCheckpoint` callback answers it at the next step boundary: it writes the run's
`checkpoints/last.ckpt` (atomically) and raises `RunInterrupted`, which `gaitwave-train` reports
as an interrupted run with the command that resumes it. A second signal of the same kind
while the first is being answered takes the default action (SIGINT: KeyboardInterrupt).

Exactness: the checkpoint is written where Lightning's own would be, so a resumed run continues
bit for bit (the data stream restarts from `global_step`, see `gaitwave.data.datamodule`):
- after a training step with no validation due: at `on_train_batch_end`;
- during, or just before, a validation: the validation finishes first (its metrics are logged
  once) and the checkpoint follows it, at `on_validation_end`. A SLURM warning signal must
  therefore come early enough for one validation (`--signal=USR1@<seconds>`).
Under SLURM (`SLURM_JOB_ID` set) SIGUSR1 also requeues the job (`scontrol requeue`); the
requeued job, started in the same run folder, resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning.pytorch as pl

log = logging.getLogger(__name__)

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1")


class RunInterrupted(Exception):
    """Training stopped on a signal. `checkpoint` is the file to resume from (None: nothing
    newer than the run's earlier checkpoints was trained)."""

    def __init__(self, signal_name: str, step: int, checkpoint: Path | None) -> None:
        self.signal_name = signal_name
        self.step = step
        self.checkpoint = checkpoint
        saved = f"checkpoint {checkpoint}" if checkpoint else "no new checkpoint"
        super().__init__(f"stopped by {signal_name} at step {step}; {saved}")

    def __reduce__(self) -> tuple:
        """Picklable with its fields (a multirun job's exception travels back to the sweep)."""
        return type(self), (self.signal_name, self.step, self.checkpoint)

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by that signal."""
        return 128 + int(getattr(signal, self.signal_name, signal.SIGTERM))


class StopRequest:
    """The signal this process was asked to stop by (None: none yet). One per process."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __bool__(self) -> bool:
        return self.signal_name is not None


STOP = StopRequest()


_PREVIOUS: dict[int, object] = {}  # the handlers `stop_on_signals` replaced, by signal number


def _request_stop(signum: int, frame: object) -> None:
    name = signal.Signals(signum).name
    if STOP:  # asked twice: the default action
        signal.signal(signum, _PREVIOUS.get(signum, signal.SIG_DFL))
        signal.raise_signal(signum)
        return
    STOP.signal_name = name
    log.warning("%s received: checkpoint at the next step boundary, then stop", name)


@contextmanager
def stop_on_signals(names: tuple[str, ...] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Within the block, the named signals set `STOP` instead of ending the process; the
    handlers in place before are restored after it. Outside the main thread (where Python
    cannot install handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    for name in names:
        number = getattr(signal, name, None)
        if number is not None:
            _PREVIOUS[number] = signal.signal(number, _request_stop)
    try:
        yield STOP
    finally:
        for number, handler in _PREVIOUS.items():
            signal.signal(number, handler)
        _PREVIOUS.clear()


def _take_back_sigterm() -> None:
    """Lightning's trainer installs its own SIGTERM handler when fit starts, which ends the
    run at the next batch, validation included, without a checkpoint; inside `stop_on_signals`
    ours goes back in place (Lightning restores the handler it found when fit ends)."""
    if signal.SIGTERM in _PREVIOUS and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _request_stop)


def _validation_follows(trainer: pl.Trainer) -> bool:
    """Whether Lightning validates right after the training batch that just ended."""
    if not trainer.enable_validation:
        return False
    loop = trainer.fit_loop
    return loop.epoch_loop._should_check_val_fx(loop._data_fetcher)


def _requeue_on_slurm(signal_name: str) -> None:
    """SIGUSR1 in a SLURM job: put the job back in the queue (as Lightning's SLURM support)."""
    job = os.environ.get("SLURM_JOB_ID")
    if signal_name != "SIGUSR1" or job is None:
        return
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array is not None:
        job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    try:
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    except FileNotFoundError:
        log.warning("SIGUSR1 in SLURM job %s but no scontrol on PATH: not requeued", job)
        return
    if result.returncode == 0:
        log.warning("SLURM job %s requeued; it resumes from the checkpoint", job)
    else:
        log.warning("scontrol requeue %s failed: %s", job, result.stderr.strip())


class PreemptionCheckpoint(pl.Callback):
    """Answers a stop request (`STOP`) with a checkpoint at `path` and `RunInterrupted`.

    The checkpoint is saved in the hook where Lightning's own would be (`on_train_batch_end`
    with no validation following, else `on_validation_end`); `RunInterrupted` follows when the
    step is complete, logging included: at the start of the next batch, or, after the last
    step, from `raise_if_stopped` once fit returns.

    Args:
        path: the run's `checkpoints/last.ckpt` (where a resumed run looks).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saved: Path | None = None

    def _requested(self, trainer: pl.Trainer) -> bool:
        """The stop request, agreed by every process (any rank's signal stops all of them)."""
        if trainer.world_size == 1:
            return bool(STOP)
        return trainer.strategy.reduce_boolean_decision(bool(STOP), all=False)

    def _save(self, trainer: pl.Trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # the whole training state
        self.saved = self.path

    def raise_if_stopped(self, trainer: pl.Trainer, saved: bool = True) -> None:
        """`RunInterrupted` when a stop was requested (and, with `saved`, answered)."""
        if not STOP or (saved and self.saved is None):
            return
        if trainer.is_global_zero:
            _requeue_on_slurm(STOP.signal_name or "")
        name = STOP.signal_name or "a signal on another rank"
        raise RunInterrupted(name, trainer.global_step, self.saved)

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _take_back_sigterm()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _take_back_sigterm()
        if self._requested(trainer):  # during setup or the sanity check: nothing new to save
            self.raise_if_stopped(trainer, saved=False)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        self.raise_if_stopped(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if self._requested(trainer) and not _validation_follows(trainer):
            self._save(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.saved is not None:
            return
        if self._requested(trainer):
            self._save(trainer)

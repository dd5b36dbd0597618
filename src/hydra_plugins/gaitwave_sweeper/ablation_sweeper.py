"""AblationSweeper: a paper table as one Hydra multirun (`hydra/sweeper=ablation`).

Jobs are rows x the grid of `params` (and command-line sweeps) x `seeds`:

- `rows`: named lists of overrides, one per table row (`post: [fusion=post]`); each job of a
  row also gets `row=<name>`, so reports and W&B can label it.
- `seeds`: every row runs once per seed (`seed=<s>` added to the job).
- `ordered`: pairs of keys `[a, b]`; a job whose overrides set `a > b` is left out (logged, not
  run), e.g. `l_min > l_max` in a grid over both.
- `baseline`: the row the other rows are compared with (read by `gaitwave-report`).

Unlike Hydra's basic sweeper, a job that raises does not stop the sweep: the other jobs run, the
failures and interrupted jobs (stopped by a signal, with a checkpoint) are listed at the end, and
the multirun then exits non-zero. Each job's folder holds its `status.json` (and a failed one
`traceback.txt`), written by the app. Re-running the same command with
`hydra.sweep.dir=<that sweep folder>` finishes the sweep: the app skips completed jobs and
resumes the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from omegaconf import OmegaConf

log = logging.getLogger(__name__)

INTERRUPTED = (
    "RunInterrupted"  # gaitwave.callbacks.preemption's exception: a job stopped by a signal
)


class SweepFailedError(HydraException):
    """Some jobs of a sweep raised; the others ran to the end."""


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _value(overrides: Sequence[str], key: str) -> str | None:
    for override in overrides:
        if _key(override) == key and "=" in override:
            return override.split("=", 1)[1]
    return None


class AblationSweeper(BasicSweeper):
    """Hydra's basic sweeper plus table rows, a seed list, ordered keys and failure tolerance."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        rows: dict[str, list[str]] | None = None,
        seeds: list[int] | None = None,
        ordered: list[list[str]] | None = None,
        baseline: str | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.rows = {str(name): list(overrides) for name, overrides in (rows or {}).items()}
        self.seeds = list(seeds or [])
        self.ordered = [tuple(pair) for pair in (ordered or [])]
        for pair in self.ordered:
            if len(pair) != 2:
                raise HydraException(
                    f"hydra.sweeper.ordered: each entry is a pair of keys [a, b], got {list(pair)}"
                )
        if baseline is not None and self.rows and baseline not in self.rows:
            raise HydraException(
                f"hydra.sweeper.baseline: {baseline!r} is not a row; rows: {list(self.rows)}"
            )
        self.baseline = baseline

    def job_overrides(self, arguments: list[str]) -> list[list[str]]:
        """Every job's override list, rows first, invalid orderings left out."""
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        parsed = parser.parse_overrides([*self._parse_config(), *arguments])
        grid = self.split_arguments(parsed, max_batch_size=None)[0]
        sets_seed = any(o.get_key_element() == "seed" for o in parsed)
        seeds = [[]] if sets_seed or not self.seeds else [[f"seed={s}"] for s in self.seeds]
        rows = [([*o, f"row={name}"]) for name, o in self.rows.items()] or [[]]
        jobs, left_out = [], []
        for row in rows:
            row_keys = {_key(o) for o in row}
            for combo in grid:
                clash = row_keys & {_key(o) for o in combo}
                if clash:
                    raise HydraException(
                        f"{sorted(clash)} set both by an ablation row and on the command line; "
                        "drop them from the command line (the rows set them)"
                    )
                for seed in seeds:
                    job = [*row, *combo, *seed]
                    (left_out if self._disordered(job) else jobs).append(job)
        for job in left_out:
            log.info("left out (ordered keys reversed): %s", " ".join(job))
        return jobs

    def _disordered(self, job: Sequence[str]) -> bool:
        for low, high in self.ordered:
            a, b = _value(job, low), _value(job, high)
            if a is None or b is None:
                continue
            try:
                if float(a) > float(b):
                    return True
            except ValueError as error:
                raise HydraException(
                    f"hydra.sweeper.ordered: {low}={a} and {high}={b} must be numbers to be "
                    "compared; order only numeric keys"
                ) from error
        return False

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        jobs = self.job_overrides(arguments)
        size = self.max_batch_size or len(jobs) or 1
        self.overrides = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("%d jobs in %s", len(jobs), sweep_dir)

        returns: list[Sequence[JobReturn]] = []
        failed: list[str] = []
        interrupted: list[str] = []
        initial_job_idx = 0
        while not self.is_done():
            batch = self.get_job_batch()
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            for number, (overrides, result) in enumerate(zip(batch, results, strict=True)):
                if result.status == JobStatus.FAILED:
                    error = result._return_value
                    where = sweep_dir / str(initial_job_idx + number)
                    line = f"{where}: {' '.join(overrides)}: {type(error).__name__}: {error}"
                    if type(error).__name__ == INTERRUPTED:
                        interrupted.append(line)
                        log.warning("job interrupted (the sweep goes on): %s", line)
                    else:
                        failed.append(line)
                        log.error("job failed (the sweep goes on): %s", line)
            initial_job_idx += len(batch)
            returns.append(results)
        if failed or interrupted:
            raise SweepFailedError(_summary(failed, interrupted, len(jobs), sweep_dir))
        return returns


def _summary(failed: list[str], interrupted: list[str], jobs: int, sweep_dir: Path) -> str:
    """What did not finish, and the command that finishes it."""
    parts = []
    if failed:
        parts.append(
            f"{len(failed)} of {jobs} jobs failed (status.json and traceback.txt in each "
            "folder):\n  " + "\n  ".join(failed)
        )
    if interrupted:
        parts.append(
            f"{len(interrupted)} of {jobs} jobs were interrupted (checkpoint saved):\n  "
            + "\n  ".join(interrupted)
        )
    parts.append(
        f"Re-run the same command with hydra.sweep.dir={sweep_dir}: completed jobs are skipped, "
        "the others resume from their last checkpoint."
    )
    return "\n".join(parts)

"""A CSV logger that a resumed run continues: `<save_dir>/<name>/<version>/metrics.csv`.

Lightning's CSVLogger, started again in a run folder that already has a `metrics.csv`, writes
the resumed run's rows under a header that lacks the earlier columns and fails ("dict contains
fields not in fieldnames"). This one reads the earlier file first: its columns stay, its rows
up to the resumed run's first logged step stay, and the rows after it (logged by the
interrupted run after its last checkpoint, and logged again by the resumed run) are replaced.
Every rewrite is atomic (`gaitwave.atomic`), so an interrupted write leaves the earlier file.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from gaitwave.atomic import atomic_write


def _step(row: dict[str, Any]) -> float:
    return float(row["step"])


class ResumableExperimentWriter(ExperimentWriter):
    """Lightning's writer, continuing an existing `metrics.csv` (see the module docstring)."""

    def __init__(self, log_dir: str) -> None:
        self._earlier: list[dict[str, str]] | None = None
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes an existing `metrics.csv` here; this writer reads it instead."""
        if os.path.isfile(self.metrics_file_path):
            self._earlier, fieldnames = self._read()
            self.metrics_keys = sorted(fieldnames)

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        if self._earlier is None and not new_keys:  # same columns: append
            with open(self.metrics_file_path, "a", newline="") as file:
                csv.DictWriter(file, fieldnames=self.metrics_keys).writerows(self.metrics)
            self.metrics = []
            return
        rows = self._read()[0] if self._earlier is None else self._earlier_before_resume()
        with atomic_write(self.metrics_file_path, "w", fsync=False) as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows + self.metrics)
        self._earlier = None
        self.metrics = []

    def _earlier_before_resume(self) -> list[dict[str, str]]:
        """The earlier rows logged before the first step this (resumed) writer logs."""
        first = min(_step(row) for row in self.metrics)
        return [row for row in self._earlier if _step(row) < first]

    def _read(self) -> tuple[list[dict[str, str]], list[str]]:
        """The rows and columns of the metrics file (none when it does not exist)."""
        if not os.path.isfile(self.metrics_file_path):
            return [], []
        with open(self.metrics_file_path, newline="") as file:
            reader = csv.DictReader(file)
            return list(reader), list(reader.fieldnames or [])


class ResumableCSVLogger(CSVLogger):
    """`lightning.pytorch.loggers.CSVLogger` with the `ResumableExperimentWriter`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ResumableExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ResumableExperimentWriter(log_dir=self.log_dir)
        return self._experiment

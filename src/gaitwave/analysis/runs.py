"""Training run folders on disk: find them under a few directories and read what each holds.

A run folder is a Hydra run dir or a multirun job folder ``<sweep_dir>/<job_num>/``: a folder
with ``config.yaml``, ``status.json`` or ``metrics.json``. From each, :func:`read_job` reads

- ``status.json``: ``status`` (``running`` | ``completed`` | ``failed``) and ``error``. Without
  it (runs older than the status file) a folder with ``metrics.json`` counts as completed, one
  without as ``unknown``.
- ``metrics.json``: the flat test metrics in percent (``NM/rank1``, ``mean/rank1``, ``mAP``, ...).
- ``.hydra/overrides.yaml``: the job's command-line overrides (``fusion=norm``, ``seed=1``).
- ``config.yaml`` (else ``.hydra/config.yaml``): ``seed``, ``row``, ``ablation`` and the exponent
  range ``l_min`` / ``l_max`` of a dynamic ``fusion.schedule`` (else of the first
  ``loss.<term>.fusion.schedule``), overridden by ``...l_min=`` / ``...l_max=`` overrides.

A file that cannot be parsed makes the job ``unreadable`` (with the reason) instead of stopping
the report: one job killed while writing must not hide the others.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

RUN_FOLDER_MARKERS = ("config.yaml", "status.json", "metrics.json")
COMPLETED = "completed"
FAILED = "failed"
RUNNING = "running"
UNKNOWN = "unknown"  # no status.json and no metrics.json: an old run that never finished
UNREADABLE = "unreadable"


class ReportError(ValueError):
    """Bad input to the report (no runs, an unknown metric or baseline): the message says why."""


@dataclass(frozen=True)
class Job:
    """One training run folder, as read from disk.

    ``metrics`` are percent; ``l_range`` is ``(l_min, l_max)`` of a dynamic exponent schedule
    (None for static schedules and fusions without one); ``error`` is the one-line reason of a
    failed or unreadable job.
    """

    folder: Path
    status: str
    overrides: tuple[str, ...] = ()
    seed: int | None = None
    row: str | None = None
    ablation: str | None = None
    l_range: tuple[float, float] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _natural_key(path: Path) -> list[Any]:
    """Sort ``2`` before ``10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def is_run_folder(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in RUN_FOLDER_MARKERS)


def _walk(folder: Path) -> list[Path]:
    if is_run_folder(folder):
        return [folder]
    children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")]
    return [run for child in sorted(children, key=_natural_key) for run in _walk(child)]


def find_run_folders(dirs: Sequence[str | Path]) -> list[Path]:
    """Every run folder under ``dirs`` (each a run folder, a multirun folder or a parent of
    several), in the order given, then by name with job numbers in numeric order."""
    found: list[Path] = []
    seen: set[Path] = set()
    for top in map(Path, dirs):
        if not top.is_dir():
            raise ReportError(f"{top} is not a directory: pass Hydra run or multirun folders")
        for folder in _walk(top):
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                found.append(folder)
    return found


def _load_yaml(path: Path) -> Any:
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def _select(config: Any, dotted: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``; None where a key is missing."""
    for key in dotted.split("."):
        if not isinstance(config, dict):
            return None
        config = config.get(key)
    return config


def override_key(override: str) -> str:
    """``fusion.schedule.l_min`` of ``+fusion.schedule.l_min=-1`` (no ``+``, ``++``, ``~``)."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(overrides: Iterable[str], name: str, nested: bool = False) -> str | None:
    """The value of the last override whose key is ``name`` (with ``nested``, also one whose key
    ends with ``.name``, e.g. ``fusion.schedule.l_min`` for ``l_min``)."""
    value = None
    for override in overrides:
        key = override_key(override)
        if "=" in override and (key == name or (nested and key.endswith(f".{name}"))):
            value = override.split("=", 1)[1]
    return value


def _l_range(overrides: Sequence[str], config: Any) -> tuple[float, float] | None:
    """``(l_min, l_max)`` from the overrides, else from ``fusion.schedule`` of a dynamic mode."""
    l_min = override_value(overrides, "l_min", nested=True)
    l_max = override_value(overrides, "l_max", nested=True)
    schedule = _select(config, "fusion.schedule")
    if schedule is None:  # no top-level fusion group: the first loss term's fusion
        terms = _select(config, "loss")
        terms = terms.values() if isinstance(terms, dict) else []
        schedule = next((s for t in terms if (s := _select(t, "fusion.schedule"))), None)
    if isinstance(schedule, dict) and schedule.get("mode") != "static":
        l_min = schedule.get("l_min") if l_min is None else l_min
        l_max = schedule.get("l_max") if l_max is None else l_max
    if l_min is None or l_max is None:
        return None
    return float(l_min), float(l_max)


def read_metrics(path: Path) -> dict[str, float]:
    """Numeric entries of ``metrics.json`` (``null``, i.e. not finite, becomes NaN)."""
    raw = json.loads(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    return {
        key: math.nan if value is None else float(value)
        for key, value in raw.items()
        if value is None or isinstance(value, (int, float))
    }


def read_job(folder: Path) -> Job:
    """The :class:`Job` in ``folder`` (module docstring: which files, which keys)."""
    status_file, metrics_file = folder / "status.json", folder / "metrics.json"
    overrides_file = folder / ".hydra" / "overrides.yaml"
    config_file = folder / "config.yaml"
    if not config_file.is_file():
        config_file = folder / ".hydra" / "config.yaml"
    current = status_file
    try:
        status_doc = json.loads(status_file.read_text()) if status_file.is_file() else {}
        current = overrides_file
        overrides = _load_yaml(overrides_file) if overrides_file.is_file() else []
        overrides = tuple(str(o) for o in overrides or [])
        current = config_file
        config = _load_yaml(config_file) if config_file.is_file() else {}
        config = config if isinstance(config, dict) else {}
        seed = config.get("seed", override_value(overrides, "seed"))
        seed = None if seed is None else int(seed)
        l_range = _l_range(overrides, config)
        current = metrics_file
        metrics = read_metrics(metrics_file) if metrics_file.is_file() else {}
    except Exception as error:  # a truncated or foreign file: report the job, keep the others
        reason = f"{current.relative_to(folder)} unreadable: {type(error).__name__}: {error}"
        return Job(folder=folder, status=UNREADABLE, error=reason.splitlines()[0])
    status = status_doc.get("status") or (COMPLETED if metrics_file.is_file() else UNKNOWN)
    return Job(
        folder=folder,
        status=str(status),
        overrides=overrides,
        seed=seed,
        row=None if config.get("row") is None else str(config["row"]),
        ablation=None if config.get("ablation") is None else str(config["ablation"]),
        l_range=l_range,
        metrics=metrics,
        error=status_doc.get("error"),
    )


def declared_baseline(dirs: Sequence[str | Path]) -> str | None:
    """The baseline row an ablation declares (``hydra.sweeper.baseline`` in the
    ``multirun.yaml`` of the first DIR that has one), or None."""
    for top in dirs:
        path = Path(top) / "multirun.yaml"
        if path.is_file():
            declared = OmegaConf.select(OmegaConf.load(path), "hydra.sweeper.baseline")
            if declared is not None:
                return str(declared)
    return None

"""Output faults: a run folder that cannot be written fails at start naming it and the fix; a
full disk during a report write names the file and keeps the previous report's file whole."""

from __future__ import annotations

import builtins
import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from gaitwave.evaluation import PROTOCOLS, ViewMatrix
from gaitwave.report import main as report_main
from gaitwave.run_folder import RunFolderNotWritable, ensure_writable

CASIAB = PROTOCOLS["casiab"]


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """`make(folder)`: chmod 0o555. Root writes into such a folder all the same, so under root
    os.open and os.mkdir refuse every path in it (EACCES), as the kernel does for a user."""
    folders: list[Path] = []

    def make(folder: Path) -> None:
        folder.chmod(0o555)
        folders.append(folder)
        if os.geteuid() != 0:
            return
        for name in ("open", "mkdir"):
            real = getattr(os, name)

            def refuse(path: object, *args: object, real=real, **kwargs: object) -> object:
                if Path(os.fspath(path)).absolute().is_relative_to(folder):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
                return real(path, *args, **kwargs)

            monkeypatch.setattr(os, name, refuse)

    yield make
    for folder in folders:
        folder.chmod(0o755)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """`fill(path)`: from now on, a write of `path` (or of a temporary file beside it) finds the
    disk full: the file is created, then every byte goes to /dev/full (ENOSPC from the kernel,
    an error that names no file)."""

    def fill(target: Path) -> None:
        real_open = builtins.open

        def open_on_full_disk(file: object, mode: str = "r", *args: object, **kwargs: object):
            path = Path(os.fspath(file)) if isinstance(file, (str, os.PathLike)) else None
            writing = any(flag in mode for flag in "wax")
            if writing and path and path.parent == target.parent and target.name in path.name:
                real_open(path, mode, *args, **kwargs).close()
                return real_open("/dev/full", mode, *args, **kwargs)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", open_on_full_disk)

    return fill


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.mark.parametrize("exists", [False, True], ids=["new run folder", "existing run folder"])
def test_a_run_folder_that_cannot_be_written_fails_naming_it_and_the_fix(
    tmp_path: Path, read_only, exists: bool
) -> None:
    outputs = tmp_path / "outputs"
    run = outputs / "run"
    run.mkdir(parents=True)
    if exists:  # an earlier start left files there: they stay as they are
        (run / "config.yaml").write_text("seed: 0\n")
        read_only(run)
    else:
        run.rmdir()
        read_only(outputs)
    before = folder_bytes(run) if exists else {}
    with pytest.raises(RunFolderNotWritable) as raised:
        ensure_writable(run)
    message = str(raised.value)
    assert str(run) in message and "paths.output_dir=" in message and "hydra.run.dir=" in message
    assert isinstance(raised.value.__cause__, PermissionError)
    if exists:
        assert folder_bytes(run) == before
    else:
        assert not run.exists()


def test_a_writable_run_folder_is_created_and_left_empty(tmp_path: Path) -> None:
    run = tmp_path / "outputs" / "run"
    ensure_writable(run)
    assert run.is_dir() and not any(run.iterdir())


def view_matrices(rank1: float) -> dict[str, ViewMatrix]:
    """NM and BG probe view x gallery view matrices (3 views), every cell `rank1` percent."""
    views = ["000", "090", "180"]
    cells = np.full((3, 3), rank1)
    return {c: ViewMatrix(views=views, rank1=cells, mAP=cells - 5.0) for c in ("NM", "BG")}


@pytest.mark.parametrize("name", ["metrics.json", "per_view.csv", "view_heatmaps.png"])
def test_a_full_disk_during_the_evaluation_report_names_the_file_and_keeps_the_last_one(
    tmp_path: Path, full_disk, name: str
) -> None:
    quiet = Console(quiet=True)
    CASIAB.report(CASIAB.summarize(view_matrices(80.0)), tmp_path, console=quiet)
    before = folder_bytes(tmp_path)
    full_disk(tmp_path / name)
    with pytest.raises(OSError) as raised:
        CASIAB.report(CASIAB.summarize(view_matrices(60.0)), tmp_path, console=quiet)
    assert raised.value.errno == errno.ENOSPC and str(tmp_path / name) in str(raised.value)
    after = folder_bytes(tmp_path)
    assert list(after) == list(before), "a temporary file was left behind"
    assert after[name] == before[name]
    assert json.loads(after["metrics.json"])["NM/rank1"] in (60.0, 80.0)  # whole, new or old


def write_job(folder: Path, fusion: str, seed: int, mean_rank1: float) -> None:
    """A completed job folder as gaitwave-train leaves it (the files the report reads)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(f"- fusion={fusion}\n- seed={seed}\n")
    (folder / "config.yaml").write_text(f"seed: {seed}\n")
    metrics = {f"{c}/rank1": mean_rank1 for c in ("NM", "BG", "CL", "mean")}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "status.json").write_text(json.dumps({"status": "completed", "error": None}))


@pytest.mark.parametrize("name", ["report.md", "report.csv", "report.png"])
def test_a_full_disk_during_gaitwave_report_names_the_file_and_keeps_the_last_one(
    tmp_path: Path, full_disk, capsys: pytest.CaptureFixture, name: str
) -> None:
    sweep = tmp_path / "sweep"
    for job, (fusion, seed, value) in enumerate(
        [("post", 0, 70.0), ("norm", 0, 72.0), ("post", 1, 71.0), ("norm", 1, 74.0)]
    ):
        write_job(sweep / str(job), fusion, seed, value)
    report_main([str(sweep)])
    out = sweep / "report"
    before = folder_bytes(out)
    write_job(sweep / "4", "norm", 2, 75.0)  # a new job: the next report differs
    full_disk(out / name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        report_main([str(sweep)])
    assert raised.value.code == 1
    error = capsys.readouterr().err
    assert "No space left on device" in error and str(out / name) in error and "--out" in error
    after = folder_bytes(out)
    assert list(after) == list(before), "a temporary file was left behind"
    assert after[name] == before[name]

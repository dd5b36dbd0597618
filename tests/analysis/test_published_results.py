"""docs/results/ is reproducible from its committed job folders.

Each table's `gaitwave-report` command, as written in docs/results/README.md, regenerates the
committed report files (the same files; the tables, .md and .csv, byte for byte), and every
interval and every mean +- std quoted on that page or in the README's headline is in one of the
reports."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gaitwave.report import main

ROOT = Path(__file__).resolve().parents[2]
RESULTS_PAGE = ROOT / "docs" / "results" / "README.md"
TABLE_SUFFIXES = (".md", ".csv")  # the figures (.png) are compared by name only
COMMAND = re.compile(r"gaitwave-report docs/results/[^`\n]*")
INTERVAL = re.compile(r"[+-]\d+\.\d\d\**\s+\[[+-]\d+\.\d\d,\s+[+-]\d+\.\d\d\]")
MEAN_STD = re.compile(r"(\d+\.\d\d) \+- (\d+\.\d\d)")


def report_commands() -> list[list[str]]:
    """The argument lists of every `gaitwave-report docs/results/...` on the results page."""
    return [shlex.split(match)[1:] for match in COMMAND.findall(RESULTS_PAGE.read_text())]


def out_of(args: list[str]) -> str | None:
    return args[args.index("--out") + 1] if "--out" in args else None


def regenerate(args: list[str], out: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the command with its report written to `out` (paths relative to the repository)."""
    monkeypatch.chdir(ROOT)
    if "--out" in args:
        at = args.index("--out")
        args = args[:at] + args[at + 2 :]
    main([*args, "--out", str(out)])
    return out


def test_the_results_page_has_a_report_command_per_table() -> None:
    assert [out_of(args) for args in report_commands() if out_of(args)] == [
        "docs/results/table5",
        "docs/results/table5x2",
        "docs/results/table6",
        "docs/results/table4",
        "docs/results/l_grid",
    ]


@pytest.mark.parametrize("args", [a for a in report_commands() if out_of(a)], ids=out_of)
def test_the_committed_report_regenerates_from_the_committed_runs(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regenerate(args, tmp_path, monkeypatch)
    committed = ROOT / out_of(args)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in committed.iterdir() if p.is_file()
    )
    for path in committed.iterdir():
        if path.suffix in TABLE_SUFFIXES:
            assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path


def test_every_quoted_figure_is_in_a_regenerated_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = " ".join(
        (regenerate(args, tmp_path / str(i), monkeypatch) / "report.md").read_text()
        for i, args in enumerate(report_commands())
    )
    quoted = {
        re.sub(r"\s+", " ", interval.replace("*", ""))
        for page in (RESULTS_PAGE, ROOT / "README.md")
        for interval in INTERVAL.findall(page.read_text())
    }
    quoted |= {f"{mean} ± {std}" for mean, std in MEAN_STD.findall(RESULTS_PAGE.read_text())}
    assert len(quoted) > 50
    assert sorted(figure for figure in quoted if figure not in reports) == []

"""Each part alone: a strip that carries identity ranks perfectly, a strip a condition hides
fails under that condition only, and per_part.csv writes back what was evaluated."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from rich.console import Console

from gaitwave.evaluation import PROTOCOLS, EvalSplit, SequenceLabels
from gaitwave.evaluation.parts import evaluate_parts

CASIAB = PROTOCOLS["casiab"]
IDS = 6
VIEWS = ["000", "090", "180"]
TYPES = ["nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"]


def split_with_a_hidden_strip() -> EvalSplit:
    """Three parts: part 0 is the id (every condition), part 1 the id except under CL (a coat
    hides it: noise there), part 2 noise everywhere. ``[N, C, 3]``."""
    generator = torch.Generator().manual_seed(0)
    rows, ids, types, views = [], [], [], []
    for identity in range(IDS):
        for kind in TYPES:
            for view in VIEWS:
                code = torch.zeros(IDS)
                code[identity] = 10.0
                noise = torch.randn(3, IDS, generator=generator)
                hidden = noise[1] if kind.startswith("cl") else code
                rows.append(torch.stack([code + 0.1 * noise[0], hidden, noise[2]], dim=-1))
                ids.append(identity)
                types.append(kind)
                views.append(view)
    return EvalSplit(torch.stack(rows), SequenceLabels(ids, types, views))


def test_each_part_alone_shows_which_condition_hides_which_strip() -> None:
    parts = evaluate_parts(CASIAB, split_with_a_hidden_strip())
    assert len(parts) == 3
    assert list(parts[0]) == CASIAB.metric_keys
    assert [parts[0][f"{c}/rank1"] for c in ("NM", "BG", "CL")] == [100.0, 100.0, 100.0]
    assert parts[1]["NM/rank1"] == 100.0 and parts[1]["BG/rank1"] == 100.0
    assert parts[1]["CL/rank1"] < 60.0
    assert max(parts[2][f"{c}/rank1"] for c in ("NM", "BG", "CL")) < 60.0


def test_the_report_writes_per_part_csv_and_prints_its_table(tmp_path: Path) -> None:
    split = split_with_a_hidden_strip()
    evaluation = CASIAB.evaluate(split)
    evaluation.per_part = evaluate_parts(CASIAB, split)
    console = Console(record=True, width=160)
    paths = CASIAB.report(evaluation, tmp_path, console)
    with paths["per_part"].open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["part"] for line in lines] == ["0", "1", "2"]
    for line, expected in zip(lines, evaluation.per_part, strict=True):
        assert {k: float(v) for k, v in line.items() if k != "part"} == pytest.approx(
            expected, abs=1e-4
        )
    assert "each part alone" in console.export_text()


def test_without_per_part_no_file_is_written(tmp_path: Path) -> None:
    paths = CASIAB.report(CASIAB.evaluate(split_with_a_hidden_strip()), tmp_path, Console())
    assert "per_part" not in paths and not (tmp_path / "per_part.csv").exists()

"""The official GREW submission CSV: the 20 nearest gallery ids of every probe, ties in gallery
order."""

import csv
from pathlib import Path

import pytest
import torch

from gaitwave.evaluation import write_grew_submission


def test_grew_submission_csv(tmp_path: Path) -> None:
    # Gallery: values 0..20, types 01 / 02 alternating, id "id<i // 2>" (ids repeat in pairs).
    gallery = [(f"id{i // 2}", ("01", "02")[i % 2], f"g{i}", float(i)) for i in range(21)]
    probes = [("?", "03", "probeA", 0.25), ("?", "03", "probeB", 5.5)]
    other = [("id0", "00", "unused", 0.0)]  # neither gallery nor probe type: ignored
    rows = probes[:1] + gallery + other + probes[1:]
    emb = torch.tensor([[[value]] for *_, value in rows])
    ids, types, names = ([row[i] for row in rows] for i in range(3))
    path = tmp_path / "submission.csv"
    assert write_grew_submission(path, emb, ids, types, names, chunk_size=1) == 2
    with open(path, newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["videoId"] + [f"rank{k}" for k in range(1, 21)]
    # probeA = 0.25: gallery 0, 1, ..., 19 in order.
    assert table[1] == ["probeA"] + [f"id{i // 2}" for i in range(20)]
    # probeB = 5.5: ties (5, 6), (4, 7), ... broken by gallery order, then 11..19.
    order = [5, 6, 4, 7, 3, 8, 2, 9, 1, 10, 0, *range(11, 20)]
    assert table[2] == ["probeB"] + [f"id{i // 2}" for i in order]
    assert len(table) == 3


def test_grew_submission_needs_twenty_gallery_sequences(tmp_path: Path) -> None:
    emb = torch.zeros(3, 1, 1)
    with pytest.raises(ValueError, match="need at least one probe and 20 gallery"):
        write_grew_submission(tmp_path / "s.csv", emb, ["a"] * 3, ["01", "02", "03"], ["p"] * 3)

"""OU-MVLP, Gait3D, GREW (official CSV and the unofficial proxy) and CASIA-B with a cross-view
gallery on hand-built cases."""

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gaitwave.evaluation import (
    PROTOCOLS,
    evaluate,
    retrieval_metrics,
    view_matrices,
    write_grew_submission,
)
from gaitwave.evaluation.protocols import CASIAB_CROSS_VIEW

NAN = math.nan


def oumvlp_case() -> tuple[torch.Tensor, list[str], list[str], list[str]]:
    """1-D embeddings. Gallery (seq 01): A@000 = 0, B@000 = 10, A@090 = 100; no B at 090.

    Probes (seq 00): A@000 = 99 (gallery 000 picks B: wrong; 090 picks A: right),
    B@000 = 101 (000 picks B: right; 090 has no B), A@090 = 1 (both views right),
    B@090 = 9 (000 picks B: right; 090 has no B).
    """
    rows = [
        ("A", "01", "000", 0.0),
        ("B", "01", "000", 10.0),
        ("A", "01", "090", 100.0),
        ("A", "00", "000", 99.0),
        ("B", "00", "000", 101.0),
        ("A", "00", "090", 1.0),
        ("B", "00", "090", 9.0),
    ]
    emb = torch.tensor([[[value]] for *_, value in rows])
    ids, types, views = ([row[i] for row in rows] for i in range(3))
    return emb, ids, types, views


def test_oumvlp_missing_gallery_counts_as_miss_by_default() -> None:
    matrix = view_matrices(*oumvlp_case(), protocol="oumvlp")["NM"]
    np.testing.assert_allclose(matrix.rank1, [[50, 50], [100, 50]])
    metrics = evaluate(*oumvlp_case(), protocol="oumvlp")
    assert metrics["NM/rank1@000"] == 50.0  # identical view excluded: gallery 090 only
    assert metrics["NM/rank1@090"] == 100.0
    assert metrics["NM/rank1"] == 75.0
    assert metrics["mean/rank1"] == 75.0


def test_oumvlp_missing_gallery_skipped() -> None:
    matrix = view_matrices(*oumvlp_case(), protocol="oumvlp-skip")["NM"]
    np.testing.assert_allclose(matrix.rank1, [[50, 100], [100, 100]])
    metrics = evaluate(*oumvlp_case(), protocol="oumvlp-skip")
    assert metrics["NM/rank1@000"] == 100.0
    assert metrics["NM/rank1"] == 100.0
    variant = dataclasses.replace(PROTOCOLS["oumvlp"], probes_without_match="skip")
    assert evaluate(*oumvlp_case(), protocol=variant) == metrics


def gait3d_case() -> tuple[torch.Tensor, list[str], list[bool]]:
    """1-D embeddings. Gallery: x = 0.5, o1..o8 = 1..8, x = 20. Probes (mask True):

    x = 0: true matches at ranks 1 and 10 -> AP (1 + 2/10) / 2 = 0.6, INP 2/10 = 0.2;
    w = 50: no true match, skipped;
    o5 = 5.9: o6 (0.1) first, o5 (0.9) second -> AP 1/2, INP 1/2.
    """
    gallery = [("x", 0.5)] + [(f"o{i}", float(i)) for i in range(1, 9)] + [("x", 20.0)]
    probes = [("x", 0.0), ("w", 50.0), ("o5", 5.9)]
    rows = probes[:1] + gallery[:5] + probes[1:2] + gallery[5:] + probes[2:]
    mask = [(name, value) in probes for name, value in rows]
    emb = torch.tensor([[[value]] for _, value in rows])
    return emb, [name for name, _ in rows], mask


def test_gait3d_minp_deep_last_match_and_skipped_probe() -> None:
    emb, ids, mask = gait3d_case()
    metrics = evaluate(emb, ids, protocol="gait3d", probe_mask=mask)
    expected = {
        "rank1": 50.0,
        "rank5": 100.0,
        "rank10": 100.0,
        "mAP": 100 * (0.6 + 0.5) / 2,
        "mINP": 100 * (0.2 + 0.5) / 2,
        "num_valid": 2,
        "num_skipped": 1,
    }
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key
    as_tensor = retrieval_metrics(emb, ids, protocol="gait3d", probe_mask=torch.tensor(mask))
    assert as_tensor == metrics
    assert evaluate(emb, ids, protocol="gait3d", probe_mask=mask, chunk_size=1) == metrics


def test_gait3d_probe_mask_errors() -> None:
    emb, ids, mask = gait3d_case()
    with pytest.raises(ValueError, match="needs probe_mask"):
        evaluate(emb, ids, protocol="gait3d")
    with pytest.raises(ValueError, match="probe_mask must be 13 bools"):
        evaluate(emb, ids, protocol="gait3d", probe_mask=mask[:-1])
    with pytest.raises(ValueError, match="needs types and views"):
        evaluate(emb, ids, protocol="casiab")
    with pytest.raises(ValueError, match="no view split"):
        view_matrices(emb, ids, ["01"] * 13, ["000"] * 13, protocol="gait3d")


def test_grew_proxy_keys_say_unofficial() -> None:
    emb = torch.tensor([[[0.0]], [[10.0]], [[1.0]], [[8.0]]])
    metrics = evaluate(emb, ["a", "b", "a", "b"], ["01", "01", "02", "02"], protocol="grew-proxy")
    names = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP", "num_valid", "num_skipped")
    assert metrics.keys() == {f"unofficial_proxy/{name}" for name in names}
    assert metrics["unofficial_proxy/rank1"] == 100.0
    with pytest.raises(ValueError, match="leave probe_mask out"):
        evaluate(emb, ["a"] * 4, ["01"] * 4, protocol="grew-proxy", probe_mask=[True] * 4)


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


def test_casiab_cross_view_gallery_ranks_each_condition_against_every_view() -> None:
    """1-D embeddings. Gallery nm-01: A@000 = 0, A@090 = 50, B@000 = 20, B@090 = 60.

    NM probe A@090 = 52: the whole gallery (every view) sorted by distance is A@090 (2),
    B@090 (8), A@000 (52), B@000 (32 -> before A@000): A@090, B@090, B@000, A@000, so rank-1
    hits; matches at ranks 1 and 4: AP = (1/1 + 2/4) / 2 = 0.75, INP = 2 / 4 = 0.5.
    CL probe B@000 = 1: A@000 (1), B@000 (19), A@090 (49), B@090 (59): rank-1 misses; matches
    at ranks 2 and 4: AP = (1/2 + 2/4) / 2 = 0.5, INP = 2 / 4 = 0.5.
    """
    rows = [
        ("A", "nm-01", "000", 0.0),
        ("A", "nm-01", "090", 50.0),
        ("B", "nm-01", "000", 20.0),
        ("B", "nm-01", "090", 60.0),
        ("A", "nm-05", "090", 52.0),
        ("B", "cl-01", "000", 1.0),
    ]
    emb = torch.tensor([[[value]] for *_, value in rows])
    ids, types, views = ([row[i] for row in rows] for i in range(3))
    spec = dataclasses.replace(
        CASIAB_CROSS_VIEW,
        probe_groups={"NM": ("nm-05", "nm-06"), "CL": ("cl-01", "cl-02")},
    )
    metrics = evaluate(emb, ids, types, views, protocol=spec)
    assert metrics["NM/rank1"] == 100.0 and metrics["CL/rank1"] == 0.0
    assert metrics["NM/mAP"] == pytest.approx(75.0) and metrics["CL/mAP"] == pytest.approx(50.0)
    assert metrics["NM/mINP"] == pytest.approx(50.0) and metrics["CL/mINP"] == pytest.approx(50.0)
    assert metrics["mean/rank1"] == 50.0 and metrics["mean/mAP"] == pytest.approx(62.5)
    assert metrics["NM/num_valid"] == 1 and "mean/num_valid" not in metrics
    # the same protocol written as config data, and the built-in name
    config = {
        "kind": "retrieval",
        "name": "cv",
        "gallery_types": ["nm-01"],
        "probe_groups": {"NM": ["nm-05"], "CL": ["cl-01"]},
    }
    assert evaluate(emb, ids, types, views, protocol=config)["mean/mAP"] == pytest.approx(62.5)
    assert "BG/rank1" not in evaluate(emb, ids, types, views, protocol=spec)
    with pytest.raises(ValueError, match="probe_groups"):
        dataclasses.replace(spec, probe_types=("nm-05",))

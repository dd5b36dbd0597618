"""Retrieval protocols (one probe set against one gallery): Gait3D, the unofficial GREW proxy
and CASIA-B as retrieval, on hand-built cases."""

import dataclasses

import pytest
import torch

from gaitwave.evaluation import PROTOCOLS, evaluate, view_matrices


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
    as_tensor = evaluate(emb, ids, protocol="gait3d", probe_mask=torch.tensor(mask))
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


def test_casiab_retrieval_ranks_each_condition_against_every_view() -> None:
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
        PROTOCOLS["casiab-retrieval"],
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

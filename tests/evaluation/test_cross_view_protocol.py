"""CASIA-B's cross-view-gallery protocol (OpenGait's): hand-built cases and a brute-force
reference written from its definition."""

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from gaitwave.evaluation import (
    PROTOCOLS,
    CrossViewGalleryProtocol,
    EvalSplit,
    SequenceLabels,
    evaluate,
    protocol_from_config,
)

CROSS_VIEW = PROTOCOLS["casiab-cross-view"]


def hand_built() -> tuple[torch.Tensor, list[str], list[str], list[str]]:
    """1-D embeddings. Gallery (nm-02, bg-02): A@000 = 0, A@090 = 10, B@000 = 1, B@090 = 12.

    NM probes (nm-01), each against the gallery less its own id at its own view:
    A@000 = 0.2: A@000 left out; B@000 (0.8) first: a miss; A@090 at rank 2: AP 1/2.
    B@090 = 2: B@090 left out; B@000 (1) first: a hit, AP 1.
    A@090 = 9: A@090 left out; B@090 (3), B@000 (8), A@000 (9): a miss, AP 1/3.
    CL probes (cl-01) at 000: C = 5 has no gallery sequence (a miss, no AP); A = 9: A@000 left
    out, A@090 (1) first: a hit, AP 1. The nm-03 row is neither gallery nor probe: ignored.
    """
    rows = [
        ("A", "nm-02", "000", 0.0),
        ("A", "nm-02", "090", 10.0),
        ("B", "nm-02", "000", 1.0),
        ("B", "bg-02", "090", 12.0),
        ("A", "nm-03", "000", 0.2),
        ("A", "nm-01", "000", 0.2),
        ("B", "nm-01", "090", 2.0),
        ("A", "nm-01", "090", 9.0),
        ("C", "cl-01", "000", 5.0),
        ("A", "cl-01", "000", 9.0),
    ]
    emb = torch.tensor([[[value]] for *_, value in rows])
    ids, types, views = ([row[i] for row in rows] for i in range(3))
    return emb, ids, types, views


def test_hand_built_cross_view_gallery() -> None:
    metrics = evaluate(*hand_built(), protocol="casiab-cross-view")
    expected = {
        "NM/rank1@000": 0.0,
        "NM/rank1@090": 50.0,
        "NM/rank1": 25.0,
        "NM/mAP@000": 50.0,
        "NM/mAP@090": 100 * (1 + 1 / 3) / 2,
        "NM/mAP": (50.0 + 100 * (1 + 1 / 3) / 2) / 2,
        "CL/rank1@000": 50.0,  # C, without a true match, counts as a miss
        "CL/rank1": 50.0,
        "CL/mAP@000": 100.0,  # and is left out of mAP
        "CL/mAP": 100.0,
    }
    assert metrics.keys() == expected.keys()  # no BG probe: no BG key and no mean
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key


def test_mean_over_conditions_and_chunking() -> None:
    two = dataclasses.replace(CROSS_VIEW, probe_groups={"NM": ("nm-01",), "CL": ("cl-01",)})
    metrics = evaluate(*hand_built(), protocol=two)
    assert metrics["mean/rank1"] == pytest.approx((25.0 + 50.0) / 2)
    assert metrics["mean/mAP"] == pytest.approx((metrics["NM/mAP"] + 100.0) / 2)
    for chunk_size in (1, 2, None):
        assert evaluate(*hand_built(), protocol=two, chunk_size=chunk_size) == metrics


def reference(emb: torch.Tensor, ids: list, types: list, views: list, metric: str) -> dict:
    """The protocol's definition in loops: per probe, the gallery (nm-02, bg-02, cl-02 at every
    view) less the probe's own id at the probe's own view; rank-1 over every probe, AP over the
    probes with a true match; per condition the mean of the per-probe-view means."""
    x = emb.double().numpy()
    gallery = [g for g, t in enumerate(types) if t in ("nm-02", "bg-02", "cl-02")]

    def distance(a: int, b: int) -> float:
        if metric == "euc":
            return float(np.sqrt(((x[a] - x[b]) ** 2).sum(0)).mean())
        cos = (x[a] * x[b]).sum(0) / (np.linalg.norm(x[a], axis=0) * np.linalg.norm(x[b], axis=0))
        return float(1 - cos.mean())

    out: dict[str, float] = {}
    for condition, probe_type in (("NM", "nm-01"), ("BG", "bg-01"), ("CL", "cl-01")):
        per_view = {}
        for view in sorted(set(views)):
            probes = [p for p, t in enumerate(types) if t == probe_type and views[p] == view]
            if not probes:
                continue
            hits, aps = [], []
            for p in probes:
                cols = [g for g in gallery if not (views[g] == view and ids[g] == ids[p])]
                order = sorted(cols, key=lambda g: (distance(p, g), g))
                ranks = [r + 1 for r, g in enumerate(order) if ids[g] == ids[p]]
                hits.append(bool(ranks) and ranks[0] == 1)
                if ranks:
                    aps.append(np.mean([(k + 1) / r for k, r in enumerate(ranks)]))
            per_view[view] = (100 * np.mean(hits), 100 * np.mean(aps) if aps else math.nan)
            out[f"{condition}/rank1@{view}"] = per_view[view][0]
            if aps:
                out[f"{condition}/mAP@{view}"] = per_view[view][1]
        out[f"{condition}/rank1"] = float(np.mean([r for r, _ in per_view.values()]))
        out[f"{condition}/mAP"] = float(np.nanmean([m for _, m in per_view.values()]))
    for name in ("rank1", "mAP"):
        out[f"mean/{name}"] = float(np.mean([out[f"{c}/{name}"] for c in ("NM", "BG", "CL")]))
    return out


def random_casiab(seed: int, num_ids: int = 6, dim: int = 8, parts: int = 2):
    """A small CASIA-B-like set with some sequences dropped, ids 000..005 and an unseen id 099."""
    generator = torch.Generator().manual_seed(seed)
    all_types = ["nm-01", "nm-02", "nm-03", "bg-01", "bg-02", "cl-01", "cl-02"]
    all_views = ["000", "036", "072", "108"]
    rows = [
        (f"{i:03d}", t, v)
        for i in range(num_ids)
        for t in all_types
        for v in all_views
        if torch.rand((), generator=generator) > 0.3
    ]
    rows.append(("099", "cl-01", "036"))  # a probe without any true match
    centres = torch.randn(100, dim, parts, generator=generator)
    emb = torch.stack([centres[int(i)] for i, _, _ in rows])
    emb = emb + 0.9 * torch.randn(emb.shape, generator=generator)
    ids, types, views = ([row[k] for row in rows] for k in range(3))
    return emb, ids, types, views


@pytest.mark.parametrize("metric", ["euc", "cos"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force_reference(metric: str, seed: int) -> None:
    emb, ids, types, views = random_casiab(seed)
    metrics = evaluate(emb, ids, types, views, "casiab-cross-view", metric, chunk_size=5)
    expected = reference(emb, ids, types, views, metric)
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-9), key


def test_keys_report_and_config(tmp_path: Path) -> None:
    assert CROSS_VIEW.metric_keys == [
        f"{c}/{m}" for c in ("NM", "BG", "CL", "mean") for m in ("rank1", "mAP")
    ]
    assert CROSS_VIEW.headline_key == "mean/rank1"
    emb, ids, types, views = random_casiab(3)
    evaluation = CROSS_VIEW.evaluate(EvalSplit(emb, SequenceLabels(ids, types, views)))
    console = Console(record=True, width=120)
    paths = CROSS_VIEW.report(evaluation, tmp_path, console)
    assert set(paths) == {"metrics", "per_view"}  # no gallery-view axis: no heatmap
    with paths["per_view"].open(newline="") as handle:
        rows = {(row["condition"], row["view"]): row["rank1"] for row in csv.DictReader(handle)}
    assert float(rows["NM", "mean"]) == pytest.approx(evaluation.metrics["NM/rank1"])
    assert float(rows["CL", "036"]) == pytest.approx(evaluation.metrics["CL/rank1@036"])
    assert "cross-view gallery" in console.export_text()
    written = {
        "kind": "cross-view-gallery",
        "name": "casiab-cross-view",
        "gallery_types": ["nm-02", "bg-02", "cl-02"],
        "probe_groups": {"NM": ["nm-01"], "BG": ["bg-01"], "CL": ["cl-01"]},
    }
    assert protocol_from_config(written) == CROSS_VIEW
    assert isinstance(CROSS_VIEW, CrossViewGalleryProtocol)
    with pytest.raises(ValueError, match="needs types and views"):
        evaluate(emb, ids, protocol=CROSS_VIEW)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    emb, ids, types, views = random_casiab(4, num_ids=10)
    on_cpu = evaluate(emb, ids, types, views, "casiab-cross-view")
    on_gpu = evaluate(emb.cuda(), ids, types, views, "casiab-cross-view", chunk_size=7)
    assert on_gpu.keys() == on_cpu.keys()
    for key, value in on_cpu.items():
        assert on_gpu[key] == pytest.approx(value, abs=1e-9), key

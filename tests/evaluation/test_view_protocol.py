"""Single-view-gallery protocols (CASIA-B, OU-MVLP) on hand-built cases and against a
brute-force reference."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from gaitwave.evaluation import PROTOCOLS, ViewProtocol, evaluate, view_matrices

NAN = math.nan


def hand_built() -> tuple[torch.Tensor, list[str], list[str], list[str]]:
    """1-D embeddings (C = P = 1) whose nearest neighbours are worked out by hand.

    Gallery (nm-01) per view: A and B at 000 -> 0, 10; at 090 -> 100, 110; at 180 -> 1000, 1010.
    No gallery at 036. NM probes (nm-05): at 000 A = 1, B = 9; at 090 A = 101, B = 104.
    BG probes (bg-01): at 000 A = 6; at 036 B = 106. No CL probe; no probe at 180.
    """
    rows = [
        ("A", "nm-01", "000", 0.0),
        ("B", "nm-01", "000", 10.0),
        ("A", "nm-01", "090", 100.0),
        ("B", "nm-01", "090", 110.0),
        ("A", "nm-01", "180", 1000.0),
        ("B", "nm-01", "180", 1010.0),
        ("A", "nm-05", "000", 1.0),
        ("B", "nm-05", "000", 9.0),
        ("A", "nm-05", "090", 101.0),
        ("B", "nm-05", "090", 104.0),
        ("A", "bg-01", "000", 6.0),
        ("B", "bg-01", "036", 106.0),
    ]
    emb = torch.tensor([[[value]] for *_, value in rows])
    ids, types, views = ([row[i] for row in rows] for i in range(3))
    return emb, ids, types, views


def test_hand_built_view_matrices() -> None:
    results = view_matrices(*hand_built())
    assert list(results) == ["NM", "BG"]  # no CL probe: the condition is left out
    nm, bg = results["NM"], results["BG"]
    assert nm.views == ["000", "036", "090", "180"]
    # NM at 000 (1, 9): gallery 000 both right; 090 and 180 both pick A (A right, B wrong).
    # NM at 090 (101, 104): gallery 000 both pick B; 090: A right, B picks A; 180 both pick A.
    np.testing.assert_allclose(
        nm.rank1,
        [[100, NAN, 50, 50], [NAN] * 4, [50, NAN, 50, 50], [NAN] * 4],
    )
    # AP with one true match per gallery view is 1 / rank of that match.
    np.testing.assert_allclose(
        nm.mAP,
        [[100, NAN, 75, 75], [NAN] * 4, [75, NAN, 75, 75], [NAN] * 4],
    )
    # BG at 000 (A = 6): gallery 000 picks B; 090 and 180 pick A. BG at 036 (B = 106): gallery
    # 000 and 090 pick B, 180 picks A. No gallery at 036: that column is NaN.
    np.testing.assert_allclose(
        bg.rank1,
        [[0, NAN, 100, 100], [100, NAN, 100, 0], [NAN] * 4, [NAN] * 4],
    )


def test_hand_built_flat_metrics_exclude_identical_views() -> None:
    metrics = evaluate(*hand_built())
    expected = {
        "NM/rank1@000": 50.0,  # (50 + 50) / 2: the 100 at 000 -> 000 is excluded
        "NM/rank1@090": 50.0,
        "NM/rank1": 50.0,
        "NM/mAP@000": 75.0,
        "NM/mAP@090": 75.0,
        "NM/mAP": 75.0,
        "BG/rank1@000": 100.0,  # the miss at 000 -> 000 is excluded
        "BG/rank1@036": 200.0 / 3,  # 036 has no gallery: mean over 000, 090, 180
        "BG/rank1": (100.0 + 200.0 / 3) / 2,
        "BG/mAP@000": 100.0,
        "BG/mAP@036": (100.0 + 100.0 + 50.0) / 3,
        "BG/mAP": (100.0 + 250.0 / 3) / 2,
    }
    assert metrics.keys() == expected.keys()  # no 180 probe, no CL: no key, no mean, no NaN
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key


def test_mean_over_the_three_conditions() -> None:
    emb, ids, types, views = hand_built()
    emb = torch.cat([emb, torch.tensor([[[1.0]]])])  # a CL probe A at 000: 090 and 180 right
    metrics = evaluate(emb, [*ids, "A"], [*types, "cl-01"], [*views, "000"])
    assert metrics["CL/rank1"] == 100.0
    expected = (metrics["NM/rank1"] + metrics["BG/rank1"] + metrics["CL/rank1"]) / 3
    assert metrics["mean/rank1"] == pytest.approx(expected)
    assert "mean/mAP" in metrics


def test_probe_without_gallery_match_is_a_miss_or_skipped() -> None:
    # Gallery: A at 000, B at 090. NM probes at 000: A, and C which has no gallery sequence.
    emb = torch.tensor([[[0.0]], [[5.0]], [[0.5]], [[4.0]]])
    ids = ["A", "B", "A", "C"]
    types = ["nm-01", "nm-01", "nm-05", "nm-05"]
    views = ["000", "090", "000", "000"]
    miss = view_matrices(emb, ids, types, views)["NM"]  # CASIA-B: OpenGait's "miss"
    np.testing.assert_allclose(miss.rank1[0], [50.0, 0.0])  # at 090 neither has a true match
    np.testing.assert_allclose(miss.mAP[0], [100.0, NAN])  # AP only for probes with a match
    skip_spec = ViewProtocol(
        name="casiab-skip",
        gallery_types=PROTOCOLS["casiab"].gallery_types,
        probe_groups=PROTOCOLS["casiab"].probe_groups,
        probes_without_match="skip",
    )
    skip = view_matrices(emb, ids, types, views, protocol=skip_spec)["NM"]
    np.testing.assert_allclose(skip.rank1[0], [100.0, NAN])
    np.testing.assert_allclose(skip.mAP[0], miss.mAP[0])


def test_without_identical_view_exclusion() -> None:
    spec = ViewProtocol(
        name="casiab-all-views",
        gallery_types=PROTOCOLS["casiab"].gallery_types,
        probe_groups=PROTOCOLS["casiab"].probe_groups,
        exclude_identical_views=False,
    )
    metrics = evaluate(*hand_built(), protocol=spec)
    assert metrics["NM/rank1@000"] == pytest.approx((100 + 50 + 50) / 3)
    assert metrics["BG/rank1@000"] == pytest.approx((0 + 100 + 100) / 3)


def reference_view_matrices(
    emb: torch.Tensor, ids: list, types: list, views: list, metric: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Brute force: loop over conditions, view pairs and probes; per-part distances in numpy."""
    x = emb.double().numpy()
    view_names = sorted(set(views))
    gallery = [i for i, t in enumerate(types) if t in ("nm-01", "nm-02", "nm-03", "nm-04")]
    groups = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}

    def distance(a: int, b: int) -> float:
        if metric == "euc":
            return float(np.sqrt(((x[a] - x[b]) ** 2).sum(0)).mean())
        cos = (x[a] * x[b]).sum(0) / (np.linalg.norm(x[a], axis=0) * np.linalg.norm(x[b], axis=0))
        return float(1 - cos.mean())

    out = {}
    for condition, group in groups.items():
        probes = [i for i, t in enumerate(types) if t in group]
        if not probes:
            continue
        rank1 = np.full((len(view_names),) * 2, np.nan)
        mean_ap = np.full((len(view_names),) * 2, np.nan)
        for a, v1 in enumerate(view_names):
            for b, v2 in enumerate(view_names):
                cols = [g for g in gallery if views[g] == v2]
                rows = [p for p in probes if views[p] == v1]
                if not cols or not rows:
                    continue
                hits, aps = [], []
                for p in rows:
                    order = sorted(cols, key=lambda g: (distance(p, g), cols.index(g)))
                    ranks = [r + 1 for r, g in enumerate(order) if ids[g] == ids[p]]
                    hits.append(bool(ranks) and ranks[0] == 1)
                    if ranks:
                        aps.append(np.mean([(k + 1) / r for k, r in enumerate(ranks)]))
                rank1[a, b] = 100 * np.mean(hits)
                if aps:
                    mean_ap[a, b] = 100 * np.mean(aps)
        out[condition] = (rank1, mean_ap)
    return out


def random_casiab(seed: int, num_ids: int = 6, dim: int = 8, parts: int = 2):
    """A small CASIA-B-like set with some sequences dropped (missing pairs happen)."""
    generator = torch.Generator().manual_seed(seed)
    all_types = [f"nm-0{i}" for i in range(1, 7)] + ["bg-01", "bg-02", "cl-01", "cl-02"]
    all_views = ["000", "036", "072", "108"]
    rows = [
        (f"{i:03d}", t, v)
        for i in range(num_ids)
        for t in all_types
        for v in all_views
        if torch.rand((), generator=generator) > 0.3
    ]
    centres = torch.randn(num_ids, dim, parts, generator=generator)
    emb = torch.stack([centres[int(i)] for i, _, _ in rows])
    emb = emb + 0.9 * torch.randn(emb.shape, generator=generator)
    ids, types, views = ([row[k] for row in rows] for k in range(3))
    return emb, ids, types, views


@pytest.mark.parametrize("metric", ["euc", "cos"])
@pytest.mark.parametrize("seed", [0, 1])
def test_against_brute_force_reference(metric: str, seed: int) -> None:
    emb, ids, types, views = random_casiab(seed)
    results = view_matrices(emb, ids, types, views, metric=metric, chunk_size=5)
    reference = reference_view_matrices(emb, ids, types, views, metric)
    assert list(results) == list(reference)
    for condition, (rank1, mean_ap) in reference.items():
        np.testing.assert_allclose(results[condition].rank1, rank1, atol=1e-9)
        np.testing.assert_allclose(results[condition].mAP, mean_ap, atol=1e-9)


def test_chunked_equals_unchunked_exactly() -> None:
    emb, ids, types, views = random_casiab(3, num_ids=8)
    emb = (emb * 4).round()  # integer-valued: distances are exact whatever the chunking
    whole = evaluate(emb, ids, types, views, chunk_size=100_000)
    for chunk_size in (1, 7, 64, None):
        assert evaluate(emb, ids, types, views, chunk_size=chunk_size) == whole
    matrices = view_matrices(emb, ids, types, views, chunk_size=3)
    for condition, matrix in view_matrices(emb, ids, types, views, chunk_size=100_000).items():
        np.testing.assert_array_equal(matrices[condition].rank1, matrix.rank1)
        np.testing.assert_array_equal(matrices[condition].mAP, matrix.mAP)


def test_summary_keys_and_views_sorted_numerically() -> None:
    emb, ids, types, views = random_casiab(4)
    metrics = PROTOCOLS["casiab"].summarize(view_matrices(emb, ids, types, views)).metrics
    assert {"NM/rank1", "BG/rank1", "CL/rank1", "mean/rank1", "NM/mAP", "mean/mAP"} <= set(metrics)
    assert all(math.isfinite(v) and 0 <= v <= 100 for v in metrics.values())
    assert "NM/rank1@036" in metrics
    matrices = view_matrices(emb, ids, types, [str(int(v)) for v in views])
    assert matrices["NM"].views == ["0", "36", "72", "108"]


def test_errors() -> None:
    emb, ids, types, views = hand_built()
    known = (
        r"\['casiab', 'casiab-cross-view', 'casiab-retrieval', 'gait3d', 'grew-proxy', 'oumvlp', "
        r"'oumvlp-skip'\]"
    )
    with pytest.raises(ValueError, match=r"unknown; known protocols: " + known):
        evaluate(emb, ids, types, views, protocol="casia-b")
    with pytest.raises(ValueError, match="one id, type and view per row"):
        evaluate(emb, ids[:-1], types, views)
    with pytest.raises(ValueError, match=r"no gallery sequence .* types found"):
        evaluate(emb, ids, [t.upper() for t in types], views)
    with pytest.raises(ValueError, match="no probe sequence"):
        evaluate(emb[:6], ids[:6], types[:6], views[:6])
    with pytest.raises(ValueError, match=r"emb must be a tensor \[N, C, P\]"):
        evaluate(emb[:, :, 0], ids, types, views)
    with pytest.raises(ValueError, match="probes_without_match"):
        ViewProtocol("x", ("a",), {"A": ("b",)}, probes_without_match="drop")


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    emb, ids, types, views = random_casiab(5, num_ids=10)
    on_cpu = evaluate(emb, ids, types, views)
    on_gpu = evaluate(emb.cuda(), ids, types, views, chunk_size=17)
    assert on_gpu.keys() == on_cpu.keys()
    for key, value in on_cpu.items():
        assert on_gpu[key] == pytest.approx(value, abs=1e-9), key

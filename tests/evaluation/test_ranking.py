"""rank_metrics: hand-computed cases, ties, chunking, torchmetrics and a brute-force reference."""

import math

import numpy as np
import pytest
import torch
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP

from gaitwave.evaluation import rank_metrics


def brute_force(dist: torch.Tensor, probe_ids: list, gallery_ids: list, ks=(1, 5, 10)) -> dict:
    """Reference: sort each row by (distance, gallery index) in Python and count."""
    hits = {k: [] for k in ks}
    average_precisions, inverse_penalties = [], []
    for q in range(dist.shape[0]):
        order = sorted(range(dist.shape[1]), key=lambda j: (float(dist[q, j]), j))
        ranks = [r + 1 for r, j in enumerate(order) if gallery_ids[j] == probe_ids[q]]
        if not ranks:
            continue
        for k in ks:
            hits[k].append(ranks[0] <= k)
        average_precisions.append(np.mean([(i + 1) / r for i, r in enumerate(ranks)]))
        inverse_penalties.append(len(ranks) / ranks[-1])
    out = {f"rank{k}": 100 * float(np.mean(v)) for k, v in hits.items()}
    out["mAP"] = 100 * float(np.mean(average_precisions))
    out["mINP"] = 100 * float(np.mean(inverse_penalties))
    out["num_valid"] = len(average_precisions)
    return out


def assert_metrics_close(actual: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=1e-9), key


def test_hand_computed_rank_k_map_minp() -> None:
    distances = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    gallery = ["b", "a", "c", "c", "b", "a"]
    dist = torch.tensor(
        [
            distances,  # probe a: matches at ranks 2 and 6
            distances[::-1],  # probe c: order a, b, c, c, a, b -> matches at ranks 3 and 4
            [0.5, 2.0, 3.0, 4.0, 5.0, 6.0],  # probe b: matches at ranks 1 and 5
            distances,  # probe d: no match, skipped
        ]
    )
    metrics = rank_metrics(dist, ["a", "c", "b", "d"], gallery, ks=(1, 2, 5))
    expected_ap = [(1 / 2 + 2 / 6) / 2, (1 / 3 + 2 / 4) / 2, (1 / 1 + 2 / 5) / 2]
    expected_inp = [2 / 6, 2 / 4, 2 / 5]
    assert metrics["rank1"] == pytest.approx(100 / 3)
    assert metrics["rank2"] == pytest.approx(200 / 3)
    assert metrics["rank5"] == pytest.approx(100.0)
    assert metrics["mAP"] == pytest.approx(100 * np.mean(expected_ap))
    assert metrics["mINP"] == pytest.approx(100 * np.mean(expected_inp))
    assert metrics["num_valid"] == 3
    assert metrics["num_skipped"] == 1
    assert set(metrics) == {"rank1", "rank2", "rank5", "mAP", "mINP", "num_valid", "num_skipped"}


def test_last_true_match_deep_in_the_list() -> None:
    gallery = ["x"] + ["other"] * 98 + ["x"]  # x ranks 1 and 100
    dist = torch.arange(100, dtype=torch.float32).unsqueeze(0)
    metrics = rank_metrics(dist, ["x"], gallery)
    assert metrics["rank1"] == 100.0
    assert metrics["mAP"] == pytest.approx(100 * (1 + 2 / 100) / 2)
    assert metrics["mINP"] == pytest.approx(100 * 2 / 100)


def test_ties_are_broken_by_gallery_order() -> None:
    equal = torch.ones(1, 4)
    later = rank_metrics(equal, ["a"], ["b", "a", "b", "a"])  # a at ranks 2 and 4
    assert (later["rank1"], later["mAP"], later["mINP"]) == (0.0, 50.0, 50.0)
    earlier = rank_metrics(equal, ["a"], ["a", "b", "a", "b"])  # a at ranks 1 and 3
    assert earlier["rank1"] == 100.0
    assert earlier["mAP"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert earlier["mINP"] == pytest.approx(100 * 2 / 3)
    # Partial tie: b (index 1) and a (index 2) share distance 1 -> b first; a at ranks 2 and 3.
    partial = rank_metrics(torch.tensor([[2.0, 1.0, 1.0, 3.0]]), ["a"], ["a", "b", "a", "c"])
    assert partial["rank1"] == 0.0
    assert partial["mAP"] == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
    # -0.0 and +0.0 are the same distance: the tie goes to gallery order too.
    zeros = rank_metrics(torch.tensor([[0.0, -0.0]]), ["a"], ["b", "a"])
    assert zeros["rank1"] == 0.0


def test_ids_may_be_strings_or_ints() -> None:
    generator = torch.Generator().manual_seed(0)
    dist = torch.rand(12, 15, generator=generator)
    probe = torch.randint(0, 4, (12,), generator=generator)
    gallery = torch.randint(0, 4, (15,), generator=generator)
    as_ints = rank_metrics(dist, probe, gallery)
    as_strings = rank_metrics(dist, [f"{i:03d}" for i in probe], [f"{i:03d}" for i in gallery])
    assert as_ints == as_strings
    assert rank_metrics(dist, probe.numpy(), gallery.tolist()) == as_ints


@pytest.mark.parametrize("seed", range(6))
def test_against_brute_force_with_many_ties(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    num_probes, num_gallery = torch.randint(1, 40, (2,), generator=generator).tolist()
    dist = torch.randint(0, 6, (num_probes, num_gallery), generator=generator).float()
    dist[::2] += torch.rand(dist[::2].shape, generator=generator)  # some rows without ties
    probe = torch.randint(0, 5, (num_probes,), generator=generator).tolist()
    gallery = torch.randint(0, 5, (num_gallery,), generator=generator).tolist()
    expected = brute_force(dist, probe, gallery)
    if expected["num_valid"] == 0:
        pytest.skip("no probe with a true match in this draw")
    assert_metrics_close(rank_metrics(dist, probe, gallery, chunk_size=4), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_distance_dtypes(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(7)
    dist = torch.rand(20, 30, generator=generator, dtype=torch.float64)
    probe = torch.randint(0, 5, (20,), generator=generator).tolist()
    gallery = torch.randint(0, 5, (30,), generator=generator).tolist()
    cast = dist.to(dtype)
    assert_metrics_close(
        rank_metrics(cast, probe, gallery), brute_force(cast.double(), probe, gallery)
    )


def test_chunked_equals_unchunked_exactly() -> None:
    generator = torch.Generator().manual_seed(1)
    dist = torch.rand(103, 57, generator=generator)
    dist[5:20] = torch.randint(0, 3, (15, 57), generator=generator).float()  # ties too
    probe = torch.randint(0, 12, (103,), generator=generator)
    gallery = torch.randint(0, 12, (57,), generator=generator)
    whole = rank_metrics(dist, probe, gallery, chunk_size=10_000)
    for chunk_size in (1, 2, 7, 50, None):
        assert rank_metrics(dist, probe, gallery, chunk_size=chunk_size) == whole


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_torchmetrics(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    num_probes, num_gallery = 25, 40
    dist = torch.rand(num_probes, num_gallery, generator=generator, dtype=torch.float64)
    probe = torch.randint(0, 8, (num_probes,), generator=generator)
    gallery = torch.randint(0, 8, (num_gallery,), generator=generator)
    ours = rank_metrics(dist, probe, gallery, ks=(1, 5, 10))
    target = probe.unsqueeze(1) == gallery.unsqueeze(0)
    indexes = torch.arange(num_probes).unsqueeze(1).expand(-1, num_gallery)
    # Higher score = closer, kept positive; torchmetrics computes in fp32 (hence abs=1e-4).
    scores = (dist.max() + 1.0 - dist).flatten()
    args = (scores, target.flatten(), indexes.flatten())
    reference_map = RetrievalMAP(empty_target_action="skip")(*args)
    assert ours["mAP"] == pytest.approx(100 * reference_map.item(), abs=1e-4)
    for k in (1, 5, 10):
        hit_rate = RetrievalHitRate(top_k=k, empty_target_action="skip")(*args)
        assert ours[f"rank{k}"] == pytest.approx(100 * hit_rate.item(), abs=1e-4)
    assert ours["num_valid"] == int(target.any(1).sum())


def test_no_probe_with_a_match_gives_nan_metrics() -> None:
    metrics = rank_metrics(torch.rand(2, 3), ["a", "b"], ["c", "d", "e"])
    assert math.isnan(metrics["rank1"]) and math.isnan(metrics["mAP"])
    assert (metrics["num_valid"], metrics["num_skipped"]) == (0, 2)


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="one id per row"):
        rank_metrics(torch.rand(2, 3), ["a"], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"dist must be a tensor \[Q, G\]"):
        rank_metrics(torch.rand(2, 3, 1), ["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError, match="ks"):
        rank_metrics(torch.rand(1, 1), ["a"], ["a"], ks=(0,))
    with pytest.raises(ValueError, match="NaN"):
        rank_metrics(torch.tensor([[0.0, float("nan")]]), ["a"], ["a", "b"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_including_ties() -> None:
    generator = torch.Generator().manual_seed(3)
    dist = torch.randint(0, 4, (200, 90), generator=generator).float()
    dist[100:] += torch.rand(100, 90, generator=generator)
    probe = torch.randint(0, 10, (200,), generator=generator)
    gallery = torch.randint(0, 10, (90,), generator=generator)
    on_cpu = rank_metrics(dist, probe, gallery)
    assert rank_metrics(dist.cuda(), probe, gallery, chunk_size=33) == on_cpu

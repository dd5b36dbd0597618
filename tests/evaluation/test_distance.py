"""part_distance against an explicit per-part loop, chunking, dtypes and errors."""

import math

import pytest
import torch

from gaitwave.evaluation import part_distance


def loop_distance(probe: torch.Tensor, gallery: torch.Tensor, metric: str) -> torch.Tensor:
    """Reference: per pair and per part in float64, then the mean over parts."""
    probe, gallery = probe.double(), gallery.double()
    num_parts = probe.shape[2]
    out = torch.zeros(probe.shape[0], gallery.shape[0], dtype=torch.float64)
    for i in range(probe.shape[0]):
        for j in range(gallery.shape[0]):
            total = 0.0
            for p in range(num_parts):
                x, y = probe[i, :, p], gallery[j, :, p]
                if metric == "euc":
                    total += math.sqrt(max(0.0, float((x - y).pow(2).sum())))
                else:
                    total += float(x @ y / (x.norm() * y.norm()))
            out[i, j] = total / num_parts if metric == "euc" else 1.0 - total / num_parts
    return out


@pytest.mark.parametrize("metric", ["euc", "cos"])
def test_matches_per_part_loop(metric: str) -> None:
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(7, 5, 3, generator=generator)
    gallery = torch.randn(9, 5, 3, generator=generator)
    dist = part_distance(probe, gallery, metric)
    assert dist.shape == (7, 9)
    assert dist.dtype == torch.float32
    torch.testing.assert_close(
        dist.double(), loop_distance(probe, gallery, metric), atol=1e-5, rtol=1e-5
    )


def test_mean_over_parts_is_not_one_distance_over_concatenated_parts() -> None:
    # Part 0 differs by 3, part 1 by 4: mean of per-part distances 3.5, concatenated 5.
    probe = torch.tensor([[[3.0, 4.0]]])  # [1, C=1, P=2]
    gallery = torch.zeros(1, 1, 2)
    assert part_distance(probe, gallery, "euc").item() == pytest.approx(3.5)


def test_cos_is_scale_invariant_per_part_and_euc_is_not() -> None:
    generator = torch.Generator().manual_seed(1)
    probe = torch.randn(4, 6, 2, generator=generator)
    gallery = torch.randn(5, 6, 2, generator=generator)
    scales = torch.tensor([0.1, 7.0])  # a different positive scale for each part
    scaled = probe * scales
    torch.testing.assert_close(
        part_distance(scaled, gallery, "cos"), part_distance(probe, gallery, "cos")
    )
    assert not torch.allclose(
        part_distance(scaled, gallery, "euc"), part_distance(probe, gallery, "euc")
    )


def test_cos_of_identical_and_opposite_vectors() -> None:
    x = torch.tensor([[[1.0], [2.0]]])
    dist = part_distance(torch.cat([x, -x]), x, "cos")
    torch.testing.assert_close(dist, torch.tensor([[0.0], [2.0]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("metric", ["euc", "cos"])
@pytest.mark.parametrize("chunk_size", [1, 3, 16, 1000])
def test_chunked_equals_unchunked_exactly(metric: str, chunk_size: int) -> None:
    # Integer-valued embeddings (and, for cos, parts of norm 2 with entries +-1): every product
    # and sum is exact, so any difference would come from the chunking logic itself.
    generator = torch.Generator().manual_seed(2)
    if metric == "euc":
        probe = torch.randint(-5, 6, (37, 8, 4), generator=generator).float()
        gallery = torch.randint(-5, 6, (23, 8, 4), generator=generator).float()
    else:
        signs = torch.randint(0, 2, (60, 4, 4), generator=generator).float() * 2 - 1
        probe, gallery = signs[:37], signs[37:]
    whole = part_distance(probe, gallery, metric, chunk_size=10_000)
    assert torch.equal(part_distance(probe, gallery, metric, chunk_size=chunk_size), whole)
    assert torch.equal(part_distance(probe, gallery, metric), whole)


def test_random_data_chunked_close_to_unchunked() -> None:
    generator = torch.Generator().manual_seed(3)
    probe = torch.randn(50, 32, 4, generator=generator)
    gallery = torch.randn(40, 32, 4, generator=generator)
    torch.testing.assert_close(
        part_distance(probe, gallery, chunk_size=7), part_distance(probe, gallery, chunk_size=50)
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_float_dtypes(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(4)
    probe = torch.randn(6, 8, 2, generator=generator).to(dtype)
    gallery = torch.randn(5, 8, 2, generator=generator).to(dtype)
    dist = part_distance(probe, gallery)
    expected_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    assert dist.dtype == expected_dtype
    reference = loop_distance(probe.double(), gallery.double(), "euc")
    torch.testing.assert_close(dist.double(), reference, atol=1e-6, rtol=1e-6)


def test_euc_distance_is_never_nan_for_identical_rows() -> None:
    x = torch.randn(5, 64, 3) * 1000.0
    dist = part_distance(x, x)
    assert torch.isfinite(dist).all()
    assert (dist >= 0).all()


def test_empty_probe_set() -> None:
    assert part_distance(torch.zeros(0, 4, 2), torch.ones(3, 4, 2)).shape == (0, 3)


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="metric"):
        part_distance(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), "l1")
    with pytest.raises(ValueError, match=r"gallery must be a tensor \[N, C, P\]"):
        part_distance(torch.zeros(2, 3, 1), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="share"):
        part_distance(torch.zeros(2, 3, 1), torch.zeros(2, 4, 1))
    with pytest.raises(TypeError, match="float"):
        part_distance(torch.zeros(2, 3, 1, dtype=torch.long), torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="chunk_size"):
        part_distance(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), chunk_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("metric", ["euc", "cos"])
def test_cuda_matches_cpu(metric: str) -> None:
    generator = torch.Generator().manual_seed(5)
    probe = torch.randn(40, 16, 4, generator=generator)
    gallery = torch.randn(30, 16, 4, generator=generator)
    on_cpu = part_distance(probe, gallery, metric)
    on_gpu = part_distance(probe.cuda(), gallery.cuda(), metric, chunk_size=9)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=1e-4)
    half = part_distance(probe.cuda().half(), gallery.cuda().half(), metric)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half.cpu(), on_cpu, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("metric", ["euc", "cos"])
def test_gallery_wider_than_one_column_tile(metric: str) -> None:
    """1100 gallery rows: two full 512-column tiles and a partial one (CPU tiling)."""
    generator = torch.Generator().manual_seed(3)
    probe = torch.randint(-3, 4, (5, 4, 2), generator=generator).float()
    gallery = torch.randint(-3, 4, (1100, 4, 2), generator=generator).float()
    gallery[::7] += 0.5  # no all-zero rows (cos)
    dist = part_distance(probe, gallery, metric)
    per_part = []
    for p in range(2):
        x, y = probe[:, :, p].double(), gallery[:, :, p].double()
        if metric == "euc":
            per_part.append(torch.cdist(x, y))
        else:
            per_part.append(
                torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
            )
    expected = torch.stack(per_part).mean(0)
    if metric == "cos":
        expected = 1.0 - expected
    torch.testing.assert_close(dist.double(), expected, atol=1e-5, rtol=1e-5)
    if metric == "euc":  # exact products (integers and halves): chunking changes no bit
        assert torch.equal(part_distance(probe, gallery, metric, chunk_size=2), dist)

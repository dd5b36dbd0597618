"""PKSampler: P distinct ids x K each, infinite, deterministic, disjoint rank slices."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from gaitwave.data.sampler import PKSampler

# 10 ids with 1..10 sequences each, shuffled so ids are not contiguous in the dataset
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(10) * 7, np.arange(1, 11)))


def first(sampler: PKSampler, count: int) -> list[list[int]]:
    return list(islice(iter(sampler), count))


def test_p_distinct_ids_k_each():
    sizes = Counter(LABELS.tolist())
    p, k = 4, 3
    for batch in first(PKSampler(LABELS, p, k, seed=1), 200):
        assert len(batch) == p * k
        labels = LABELS[batch]
        counts = Counter(labels.tolist())
        assert len(counts) == p and set(counts.values()) == {k}
        # ids are grouped: K consecutive indices of one id
        assert all(len(set(labels[i : i + k])) == 1 for i in range(0, p * k, k))
        # without replacement when the id has at least K sequences
        for label in counts:
            chosen = [i for i in batch if LABELS[i] == label]
            if sizes[label] >= k:
                assert len(set(chosen)) == k


def test_every_id_and_sequence_gets_drawn():
    batches = first(PKSampler(LABELS, 4, 3, seed=2), 500)
    drawn = {i for batch in batches for i in batch}
    assert drawn == set(range(len(LABELS)))


def test_infinite_and_deterministic():
    a = first(PKSampler(LABELS, 3, 2, seed=5), 1000)
    b = first(PKSampler(LABELS, 3, 2, seed=5), 1000)
    c = first(PKSampler(LABELS, 3, 2, seed=6), 1000)
    assert len(a) == 1000 and a == b and a != c


def test_start_batch_resumes_the_stream():
    stream = first(PKSampler(LABELS, 3, 2, seed=5), 10)
    assert first(PKSampler(LABELS, 3, 2, seed=5, start_batch=6), 4) == stream[6:]


@pytest.mark.parametrize(("p", "world_size"), [(4, 2), (3, 2), (4, 4)])
def test_ranks_take_disjoint_slices_of_the_global_batch(p, world_size):
    k = 2
    whole = first(PKSampler(LABELS, p, k, seed=3), 20)
    shares = [first(PKSampler(LABELS, p, k, 3, r, world_size), 20) for r in range(world_size)]
    for number, global_batch in enumerate(whole):
        parts = [share[number] for share in shares]
        assert all(len(part) == p * k // world_size for part in parts)
        joined = [index for part in parts for index in part]
        assert joined == global_batch  # disjoint positions, union = global batch


@pytest.mark.parametrize(("p", "world_size"), [(4, 2), (6, 3)])
def test_ranks_hold_whole_distinct_ids_when_world_size_divides_p(p, world_size):
    k = 3
    for number in range(50):
        shares = [
            first(PKSampler(LABELS, p, k, 9, r, world_size, start_batch=number), 1)[0]
            for r in range(world_size)
        ]
        ids = [Counter(LABELS[share].tolist()) for share in shares]
        for counts in ids:
            assert len(counts) == p // world_size and set(counts.values()) == {k}
        assert len(set().union(*ids)) == p  # no id on two ranks


def test_each_rank_repeats_its_stream_for_a_seed():
    for rank in range(2):
        a = first(PKSampler(LABELS, 4, 2, seed=5, rank=rank, world_size=2), 100)
        b = first(PKSampler(LABELS, 4, 2, seed=5, rank=rank, world_size=2), 100)
        c = first(PKSampler(LABELS, 4, 2, seed=6, rank=rank, world_size=2), 100)
        assert a == b and a != c


def test_works_as_a_dataloader_batch_sampler():
    dataset = torch.arange(len(LABELS))
    loader = DataLoader(dataset, batch_sampler=PKSampler(LABELS, 2, 4, seed=0))
    batch = next(iter(loader))
    assert batch.shape == (8,) and batch.dtype == torch.int64


def test_bad_arguments():
    with pytest.raises(ValueError, match="only 10"):
        PKSampler(LABELS, 11, 2)
    with pytest.raises(ValueError, match="does not split over 4"):
        PKSampler(LABELS, 3, 2, world_size=4)
    with pytest.raises(ValueError, match="rank 2"):
        PKSampler(LABELS, 2, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match=">= 1"):
        PKSampler(LABELS, 0, 2)

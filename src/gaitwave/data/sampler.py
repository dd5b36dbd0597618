"""P x K batch sampler: P distinct ids, K sequences of each, forever, rank-aware.

Global batch `b` is drawn from `np.random.default_rng([seed, b])`: the same on every rank, the
same on every run with that seed, and reachable directly (`start_batch`) when resuming. Rank `r`
of `world_size` takes the contiguous slice `[r * B / world_size, (r + 1) * B / world_size)` of the
global batch of B = P * K indices, which is ordered id by id: when `world_size` divides P, each
rank holds whole ids with all K of their sequences.

Use it as `DataLoader(dataset, batch_sampler=PKSampler(...))`. It is infinite (no `__len__`),
so train by `max_steps`, and tell Lightning not to swap it for a DistributedSampler
(`Trainer(use_distributed_sampler=False)`): the rank split happens here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class PKSampler(Sampler[list[int]]):
    """Yields lists of dataset indices, `p * k / world_size` per batch, without end.

    Args:
        labels: the label of every dataset item, `[len(dataset)]`.
        p: ids per global batch (distinct).
        k: sequences per id (drawn with replacement only when the id has fewer than k).
        seed: fixes the whole stream of batches.
        rank, world_size: this process's share of each global batch.
        start_batch: number of the first global batch (to resume a stream).
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"sampler [P, K] = [{p}, {k}]: both must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} must be in [0, world_size={world_size})")
        if (p * k) % world_size:
            raise ValueError(
                f"global batch P * K = {p * k} does not split over {world_size} processes; "
                "choose P (best) or K divisible by the number of processes"
            )
        labels = np.asarray(labels)
        order = np.argsort(labels, kind="stable")
        self.ids, starts = np.unique(labels[order], return_index=True)
        self.members = np.split(order, starts[1:])  # dataset indices of each id
        if len(self.ids) < p:
            raise ValueError(
                f"sampler asks for P = {p} distinct ids per batch but the training split has "
                f"only {len(self.ids)}; lower P (data.datamodule.sampler=[P, K])"
            )
        self.p, self.k = p, k
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.start_batch = start_batch
        self.batch_size = p * k // world_size

    def global_batch(self, number: int) -> np.ndarray:
        """Dataset indices `[P * K]` of global batch `number`, id by id."""
        rng = np.random.default_rng([self.seed, number])
        chosen = rng.choice(len(self.ids), size=self.p, replace=False)
        parts = []
        for position in chosen:
            members = self.members[position]
            parts.append(rng.choice(members, size=self.k, replace=len(members) < self.k))
        return np.concatenate(parts)

    def numbered_batches(self) -> Iterator[tuple[int, list[int]]]:
        """(global batch number, this rank's indices), forever from `start_batch`."""
        number = self.start_batch
        begin = self.rank * self.batch_size
        while True:
            batch = self.global_batch(number)
            yield number, batch[begin : begin + self.batch_size].tolist()
            number += 1

    def __iter__(self) -> Iterator[list[int]]:
        for _, batch in self.numbered_batches():
            yield batch

"""Ranking metrics from a probe x gallery distance matrix: rank-k, mAP and mINP, in percent.

Each probe sorts the gallery by increasing distance. **Ties** are broken by gallery order: of
two gallery items at the same distance, the one that comes first in the gallery ranks first (a
stable sort). The rule is deterministic and the same on every device. Only the ranks of the
true matches are needed: each is the count of smaller distances in its row, found by counting
(few matches) or by a binary search in the sorted row (many matches).

Per probe with at least one true match (same id) in the gallery:

- rank-k hit: a true match is among the first ``k`` ranked items;
- AP: mean over the true matches of the precision at the rank of that match;
- INP: (number of true matches) / (1-based rank of the last true match) (Gait3D's mINP).

Probes with no true match in the gallery are skipped (counted in ``num_skipped``). Rows are
ranked in chunks of probes; every per-probe value depends on its own row only and the means are
taken once over all probes, so chunking does not change the results.
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# Default bound on the per-chunk ranking temporaries: 2**24 elements of [chunk, G] (a few bytes
# each); large chunks keep the number of kernel launches and host syncs low on GPUs.
DEFAULT_RANK_CHUNK_ELEMENTS = 2**24


@dataclass
class ProbeRanking:
    """Per-probe ranking results for ``Q`` probes (all tensors ``[Q]``, on the input device)."""

    first_match: Tensor  # int64, 1-based rank of the first true match; 0 when there is none
    num_matches: Tensor  # int64, number of true matches in the gallery
    average_precision: Tensor  # float64 in [0, 1]; NaN when there is no true match
    inverse_negative_penalty: Tensor  # float64 in (0, 1]; NaN when there is no true match

    @staticmethod
    def concatenate(parts: Sequence["ProbeRanking"]) -> "ProbeRanking":
        """Join the rankings of consecutive probe chunks."""
        return ProbeRanking(
            first_match=torch.cat([p.first_match for p in parts]),
            num_matches=torch.cat([p.num_matches for p in parts]),
            average_precision=torch.cat([p.average_precision for p in parts]),
            inverse_negative_penalty=torch.cat([p.inverse_negative_penalty for p in parts]),
        )


def encode_ids(ids: Sequence[Hashable] | Tensor | np.ndarray, lookup: dict) -> np.ndarray:
    """Integer codes ``[N]`` (int64) for ``ids`` (strings or ints); new ids are added to ``lookup``.

    Sharing ``lookup`` between probe and gallery ids gives both the same codes. Values are
    compared as they are: ``75`` and ``"075"`` are different ids.
    """
    values = ids.tolist() if isinstance(ids, Tensor | np.ndarray) else list(ids)
    return np.array([lookup.setdefault(value, len(lookup)) for value in values], dtype=np.int64)


# A probe with at most this many true matches gets its hit ranks by counting (two compare passes
# per match over its row) instead of sorting the row: cheaper up to 4 matches on CPU
# (bench/README.md, "Evaluation").
MAX_MATCHES_TO_COUNT = 4


def _count_below(dist: Tensor, hit_dist: Tensor) -> tuple[Tensor, Tensor]:
    """``#{d < h}`` and ``#{d <= h}`` ``[Q, M]`` (int64) for each ``h`` in ``hit_dist [Q, M]``.

    Small ``M``: one pass over ``dist [Q, G]`` per match and comparison (numpy's ``count_nonzero``
    on CPU). Otherwise each row is sorted (numpy's vectorised sort on CPU) and the counts come
    from binary searches.
    """
    if hit_dist.shape[1] <= MAX_MATCHES_TO_COUNT:
        if dist.device.type == "cpu":
            values, hits = dist.numpy(), hit_dist.numpy()[:, :, None]
            below = [np.count_nonzero(values < hits[:, m], axis=1) for m in range(hits.shape[1])]
            upto = [np.count_nonzero(values <= hits[:, m], axis=1) for m in range(hits.shape[1])]
            return torch.from_numpy(np.stack(below, 1)), torch.from_numpy(np.stack(upto, 1))
        below = [(dist < column.unsqueeze(1)).sum(1) for column in hit_dist.unbind(1)]
        upto = [(dist <= column.unsqueeze(1)).sum(1) for column in hit_dist.unbind(1)]
        return torch.stack(below, 1), torch.stack(upto, 1)
    if dist.device.type == "cpu":
        sorted_dist = torch.from_numpy(np.sort(dist.numpy(), axis=1))
    else:
        sorted_dist = torch.sort(dist, dim=1).values
    below = torch.searchsorted(sorted_dist, hit_dist, side="left")
    return below, torch.searchsorted(sorted_dist, hit_dist, side="right")


def _hit_ranks(dist: Tensor, hit_cols: Tensor, valid: Tensor) -> Tensor:
    """1-based ranks ``[Q, M]`` of the gallery columns ``hit_cols [Q, M]`` (where ``valid``).

    The rank of column ``c`` is ``1 + #{d < d_c} + #{d == d_c, index < c}`` (ties: gallery
    order). Only the rows where a hit shares its distance with another gallery item take a
    stable sort; the others need ``#{d < d_c}`` alone (:func:`_count_below`).
    """
    hit_dist = dist.gather(1, hit_cols)
    below, upto = _count_below(dist, hit_dist)
    below, upto = below.to(dist.device), upto.to(dist.device)
    tied = valid & (upto - below > 1)
    ranks = below + 1
    tie_rows = tied.any(1).nonzero().squeeze(1)
    if tie_rows.numel() > 0:
        order = torch.sort(dist[tie_rows], dim=1, stable=True).indices
        columns = torch.arange(dist.shape[1], device=dist.device).expand_as(order)
        positions = torch.empty_like(order).scatter_(1, order, columns)  # rank - 1 of each column
        ranks[tie_rows] = positions.gather(1, hit_cols[tie_rows]) + 1
    return ranks


def _true_matches(probe_codes: Tensor, gallery_codes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The gallery columns of each probe's true matches, without a ``[Q, G]`` comparison.

    Returns ``hit_cols [Q, M]`` (int64, in gallery order, padded with 0), ``valid [Q, M]``
    (bool) and ``num_matches [Q]`` (int64), ``M`` the most matches of one probe. The gallery is
    grouped by id once (a stable argsort); each probe reads its id's group.
    """
    num_codes = int(torch.cat([probe_codes, gallery_codes]).max()) + 1
    per_code = torch.bincount(gallery_codes, minlength=num_codes)
    grouped = torch.argsort(gallery_codes, stable=True)
    group_start = per_code.cumsum(0) - per_code
    num_matches = per_code[probe_codes]
    slots = torch.arange(int(num_matches.max()), device=probe_codes.device)
    valid = slots < num_matches.unsqueeze(1)
    positions = (group_start[probe_codes].unsqueeze(1) + slots).clamp(max=gallery_codes.numel() - 1)
    hit_cols = torch.where(valid, grouped[positions], 0)
    return hit_cols, valid, num_matches


def _no_matches(num_probes: int, device: torch.device) -> ProbeRanking:
    zeros = torch.zeros(num_probes, dtype=torch.int64, device=device)
    nan = torch.full((num_probes,), float("nan"), dtype=torch.float64, device=device)
    return ProbeRanking(zeros, zeros.clone(), nan, nan.clone())


def rank_probes(dist: Tensor, probe_codes: Tensor, gallery_codes: Tensor) -> ProbeRanking:
    """Rank the gallery for each probe. ``dist [Q, G]``, ``probe_codes [Q]``, ``gallery_codes [G]``.

    Codes are non-negative int64 tensors on the device of ``dist`` (:func:`encode_ids`). Memory
    is a few ``[Q, G]`` tensors: call it on probe chunks for large ``Q`` (``rank_metrics`` does).
    """
    num_probes = dist.shape[0]
    dist = dist.detach()
    if num_probes > 0 and dist.numel() > 0 and torch.isnan(dist.max()):  # max propagates NaN
        raise ValueError(
            "ranking: the distances contain NaN (NaN or inf in the embeddings?); "
            "check the model outputs before evaluating"
        )
    if num_probes == 0 or gallery_codes.numel() == 0:
        return _no_matches(num_probes, dist.device)
    hit_cols, valid, num_matches = _true_matches(probe_codes, gallery_codes)
    if hit_cols.shape[1] == 0:
        return _no_matches(num_probes, dist.device)
    if dist.dtype in (torch.float16, torch.bfloat16):
        dist = dist.float()
    has_match = num_matches > 0
    ranks = _hit_ranks(dist.contiguous(), hit_cols, valid)
    # Sort each probe's hit ranks; padding goes last.
    ranks = torch.where(valid, ranks, dist.shape[1] + 1).sort(dim=1).values
    # AP: precision at each hit, summed one column at a time so that a probe's AP is the same
    # sum in the same order whatever the other rows are (chunking changes nothing).
    precision_sum = torch.zeros(num_probes, dtype=torch.float64, device=dist.device)
    for j, column in enumerate(ranks.unbind(1)):
        precision_sum += torch.where(j < num_matches, (j + 1) / column.to(torch.float64), 0.0)
    hits = num_matches.to(torch.float64)
    last_rank = ranks.gather(1, (num_matches - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=dist.device)
    return ProbeRanking(
        first_match=torch.where(has_match, ranks[:, 0], 0),
        num_matches=num_matches,
        average_precision=torch.where(has_match, precision_sum / hits, nan),
        inverse_negative_penalty=torch.where(has_match, hits / last_rank, nan),
    )


def _check_ranking_inputs(dist: Tensor, num_probe_ids: int, num_gallery_ids: int) -> None:
    if not isinstance(dist, Tensor) or dist.dim() != 2:
        shape = tuple(dist.shape) if isinstance(dist, Tensor) else type(dist).__name__
        raise ValueError(f"rank_metrics: dist must be a tensor [Q, G], got {shape}")
    if (num_probe_ids, num_gallery_ids) != tuple(dist.shape):
        raise ValueError(
            f"rank_metrics: dist is {tuple(dist.shape)} but there are {num_probe_ids} probe ids "
            f"and {num_gallery_ids} gallery ids; pass one id per row and one per column"
        )


def rank_all(
    dist: Tensor, probe_codes: Tensor, gallery_codes: Tensor, chunk_size: int | None = None
) -> ProbeRanking:
    """:func:`rank_probes` over chunks of ``chunk_size`` probe rows (default: 2**24 / G rows)."""
    if chunk_size is None:
        chunk_size = max(1, DEFAULT_RANK_CHUNK_ELEMENTS // max(1, dist.shape[1]))
    if chunk_size < 1:
        raise ValueError(f"rank_metrics: chunk_size must be >= 1, got {chunk_size}")
    parts = [
        rank_probes(
            dist[start : start + chunk_size], probe_codes[start : start + chunk_size], gallery_codes
        )
        for start in range(0, dist.shape[0], chunk_size)
    ]
    if not parts:
        return rank_probes(dist, probe_codes, gallery_codes)
    return ProbeRanking.concatenate(parts)


def summarize_ranking(ranking: ProbeRanking, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Rank-k, mAP and mINP in percent over the probes with a true match (NaN if there is none).

    Also ``num_valid`` and ``num_skipped`` (probes without a true match), as ints.
    """
    valid = ranking.num_matches > 0
    num_valid = int(valid.sum())
    first = ranking.first_match[valid]
    metrics: dict[str, float] = {}

    def percent(values: Tensor) -> float:
        return 100.0 * values.to(torch.float64).mean().item() if num_valid else float("nan")

    for k in ks:
        if int(k) < 1:
            raise ValueError(f"rank_metrics: every k in ks must be >= 1, got {k}")
        metrics[f"rank{int(k)}"] = percent(first <= int(k))
    metrics["mAP"] = percent(ranking.average_precision[valid])
    metrics["mINP"] = percent(ranking.inverse_negative_penalty[valid])
    metrics["num_valid"] = num_valid
    metrics["num_skipped"] = int(valid.numel()) - num_valid
    return metrics


def rank_metrics(
    dist: Tensor,
    probe_ids: Sequence[Hashable] | Tensor | np.ndarray,
    gallery_ids: Sequence[Hashable] | Tensor | np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Rank-k (``rank1``, ``rank5``, ...), ``mAP`` and ``mINP`` in percent from ``dist [Q, G]``.

    ``probe_ids`` (``Q``) and ``gallery_ids`` (``G``) are strings or ints. Probes without a true
    match in the gallery are skipped: ``num_valid`` and ``num_skipped`` count them. Ties are
    broken by gallery order (module docstring). ``chunk_size`` probe rows are ranked at a time.
    """
    lookup: dict = {}
    probe_np = encode_ids(probe_ids, lookup)
    gallery_np = encode_ids(gallery_ids, lookup)
    _check_ranking_inputs(dist, len(probe_np), len(gallery_np))
    probe_codes = torch.from_numpy(probe_np).to(dist.device)
    gallery_codes = torch.from_numpy(gallery_np).to(dist.device)
    return summarize_ranking(rank_all(dist, probe_codes, gallery_codes, chunk_size), ks)

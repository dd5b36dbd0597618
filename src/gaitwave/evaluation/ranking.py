"""Ranking metrics from a probe x gallery distance matrix: rank-k, mAP and mINP, in percent.

Each probe sorts the gallery by increasing distance. **Ties** are broken by gallery order: of
two gallery items at the same distance, the one that comes first in the gallery ranks first (a
stable sort). The rule is deterministic and the same on every device. Only the ranks of the
true matches are needed: each is found by a binary search in the sorted row of distances.

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


def _sorted_values(dist: Tensor) -> Tensor:
    """Each row of ``dist [Q, G]`` sorted ascending (numpy's vectorised sort on CPU)."""
    if dist.device.type == "cpu":
        return torch.from_numpy(np.sort(dist.numpy(), axis=1))
    return torch.sort(dist, dim=1).values


def _hit_ranks(dist: Tensor, hit_cols: Tensor, valid: Tensor) -> Tensor:
    """1-based ranks ``[Q, M]`` of the gallery columns ``hit_cols [Q, M]`` (where ``valid``).

    The rank of column ``c`` is ``1 + #{d < d_c} + #{d == d_c, index < c}`` (ties: gallery
    order). ``#{d < d_c}`` comes from a binary search in the sorted row; the rows where a hit
    shares its distance with another gallery item take a stable sort instead.
    """
    hit_dist = dist.gather(1, hit_cols)
    sorted_dist = _sorted_values(dist)
    below = torch.searchsorted(sorted_dist, hit_dist, side="left")
    tied = valid & (torch.searchsorted(sorted_dist, hit_dist, side="right") - below > 1)
    ranks = below + 1
    tie_rows = tied.any(1).nonzero().squeeze(1)
    if tie_rows.numel() > 0:
        order = torch.sort(dist[tie_rows], dim=1, stable=True).indices
        columns = torch.arange(dist.shape[1], device=dist.device).expand_as(order)
        positions = torch.empty_like(order).scatter_(1, order, columns)  # rank - 1 of each column
        ranks[tie_rows] = positions.gather(1, hit_cols[tie_rows]) + 1
    return ranks


def _no_matches(num_probes: int, device: torch.device) -> ProbeRanking:
    zeros = torch.zeros(num_probes, dtype=torch.int64, device=device)
    nan = torch.full((num_probes,), float("nan"), dtype=torch.float64, device=device)
    return ProbeRanking(zeros, zeros.clone(), nan, nan.clone())


def rank_probes(dist: Tensor, probe_codes: Tensor, gallery_codes: Tensor) -> ProbeRanking:
    """Rank the gallery for each probe. ``dist [Q, G]``, ``probe_codes [Q]``, ``gallery_codes [G]``.

    Codes are int64 tensors on the device of ``dist``. Memory is a few ``[Q, G]`` tensors: call it
    on probe chunks for large ``Q`` (``rank_metrics`` does).
    """
    num_probes = dist.shape[0]
    dist = dist.detach()
    if torch.isnan(dist).any():
        raise ValueError(
            "ranking: the distances contain NaN (NaN or inf in the embeddings?); "
            "check the model outputs before evaluating"
        )
    rows, cols = (gallery_codes == probe_codes.unsqueeze(1)).nonzero(as_tuple=True)
    if rows.numel() == 0:
        return _no_matches(num_probes, dist.device)
    if dist.dtype in (torch.float16, torch.bfloat16):
        dist = dist.float()
    # The true matches of each probe in a [Q, M] table (M: most matches of one probe).
    num_matches = torch.bincount(rows, minlength=num_probes)
    has_match = num_matches > 0
    first_hit = num_matches.cumsum(0) - num_matches  # index into rows of each probe's first hit
    hit_number = torch.arange(rows.numel(), device=dist.device) - first_hit[rows]
    shape = (num_probes, int(num_matches.max()))
    hit_cols = torch.zeros(shape, dtype=torch.int64, device=dist.device)
    hit_cols[rows, hit_number] = cols
    valid = torch.zeros(shape, dtype=torch.bool, device=dist.device)
    valid[rows, hit_number] = True
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

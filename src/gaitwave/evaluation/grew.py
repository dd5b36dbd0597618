"""GREW's official protocol: a CSV of the nearest gallery ids per probe for the challenge server.

Official GREW test: gallery = sequence types ``01`` and ``02`` (labelled), probes = type ``03``
(labels hidden). The score is computed by the challenge server from a CSV with one row per probe:

- ``videoId``: the probe sequence name;
- ``rank1`` .. ``rank20``: the ids of the 20 nearest gallery sequences, nearest first. They are
  the ids of sequences, not distinct ids: an id appears once per gallery sequence among the 20.

Distance ties are broken by gallery order (as in :mod:`gaitwave.evaluation.ranking`). The local,
NOT official proxy (gallery ``01``, probe ``02``) is ``evaluate(..., protocol="grew-proxy")``.
"""

import csv
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gaitwave.evaluation.base import check_rows
from gaitwave.evaluation.distance import iter_part_distance

GALLERY_TYPES = ("01", "02")
PROBE_TYPES = ("03",)
TOP_K = 20


def nearest_gallery_rows(
    probe: Tensor,
    gallery: Tensor,
    k: int = TOP_K,
    metric: str = "euc",
    chunk_size: int | None = None,
) -> np.ndarray:
    """Indices ``[Q, k]`` (int64) of the ``k`` nearest gallery rows of each probe, nearest first.

    ``probe [Q, C, P]``, ``gallery [G, C, P]``, ``G >= k``; ties: the earlier gallery row first.
    """
    if not 1 <= k <= gallery.shape[0]:
        raise ValueError(f"nearest_gallery_rows: k must be in [1, {gallery.shape[0]}], got {k}")
    parts = [
        torch.sort(dist, dim=1, stable=True).indices[:, :k].cpu().numpy()
        for _, dist in iter_part_distance(probe.detach(), gallery.detach(), metric, chunk_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, k), dtype=np.int64)


def write_grew_submission(
    path: str | Path,
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str],
    names: Sequence[str],
    metric: str = "euc",
    chunk_size: int | None = None,
) -> int:
    """Write the official GREW submission CSV (module docstring) to ``path``; return its row count.

    ``emb [N, C, P]``; ``ids``, ``types``, ``names``: one per row of ``emb``. Gallery rows have
    type ``01`` or ``02`` and their true ``ids``; probe rows have type ``03`` (their ``ids`` are
    not used) and ``names`` gives their ``videoId``. Other rows are ignored.
    """
    check_rows("write_grew_submission", emb, ids=ids, types=types, names=names)
    types = [str(t) for t in types]
    probe_rows = np.flatnonzero(np.isin(types, PROBE_TYPES))
    gallery_rows = np.flatnonzero(np.isin(types, GALLERY_TYPES))
    if probe_rows.size == 0 or gallery_rows.size < TOP_K:
        raise ValueError(
            f"write_grew_submission: found {probe_rows.size} probe (type 03) and "
            f"{gallery_rows.size} gallery (types 01, 02) sequences; need at least one probe and "
            f"{TOP_K} gallery sequences"
        )
    device = emb.device
    nearest = nearest_gallery_rows(
        emb[torch.from_numpy(probe_rows).to(device)],
        emb[torch.from_numpy(gallery_rows).to(device)],
        TOP_K,
        metric,
        chunk_size,
    )
    gallery_ids = [str(ids[row]) for row in gallery_rows]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["videoId", *(f"rank{k}" for k in range(1, TOP_K + 1))])
        for row, columns in zip(probe_rows, nearest, strict=True):
            writer.writerow([names[row], *(gallery_ids[c] for c in columns)])
    return int(probe_rows.size)

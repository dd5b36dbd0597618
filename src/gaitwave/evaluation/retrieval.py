"""Retrieval protocols (Gait3D, the GREW proxy): one probe set against one gallery, no view split.

Each probe ranks the whole gallery; reported are rank-k, mAP and mINP (%) over the probes with a
true match, and the counts ``num_valid`` and ``num_skipped`` (probes without one, left out of
every mean; docs/PROTOCOLS.md, "Gait3D"). The probes and the gallery are chosen by sequence type
(``probe_types``, ``gallery_types``) or, with both None, the probes are the rows flagged by the
labels' ``probe_mask`` (Gait3D's PROBE_SET) and the gallery is every other row. With
``probe_groups`` (condition -> probe types) each condition's probes are ranked against the
gallery in turn, reported under ``<condition>/`` and their mean under ``mean/``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import torch

from gaitwave.evaluation.base import (
    EvalSplit,
    Evaluation,
    Protocol,
    SequenceLabels,
    row_distances,
    rows_of_types,
)
from gaitwave.evaluation.ranking import ProbeRanking, encode_ids, rank_probes, summarize_ranking


@dataclasses.dataclass(frozen=True)
class RetrievalProtocol(Protocol):
    """A retrieval protocol described as data (module docstring).

    ``ks``: the rank-k reported; ``key_prefix`` is put before every metric key.
    """

    kind = "retrieval"
    name: str
    ks: tuple[int, ...] = (1, 5, 10)
    probe_types: tuple[str, ...] | None = None
    gallery_types: tuple[str, ...] | None = None
    key_prefix: str = ""
    probe_groups: Mapping[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if self.probe_groups is not None:
            if self.probe_types is not None or self.gallery_types is None:
                raise ValueError(
                    f"protocol {self.name!r}: with probe_groups give gallery_types and no "
                    "probe_types (each group lists its probe types)"
                )
            return
        if (self.probe_types is None) != (self.gallery_types is None):
            raise ValueError(
                f"protocol {self.name!r}: give both probe_types and gallery_types, or neither "
                "(then the probes come from probe_mask)"
            )

    @property
    def _groups(self) -> list[str]:
        """Key infixes: ``""`` for one probe set, ``"<condition>/"`` and ``"mean/"`` for groups."""
        if self.probe_groups is None:
            return [""]
        return [f"{group}/" for group in [*self.probe_groups, "mean"]]

    @property
    def metric_keys(self) -> list[str]:
        names = [f"rank{k}" for k in self.ks] + ["mAP", "mINP"]
        return [f"{self.key_prefix}{group}{name}" for group in self._groups for name in names]

    @property
    def headline_key(self) -> str:
        return f"{self.key_prefix}{self._groups[-1]}rank1"

    def check_labels(self, labels: SequenceLabels) -> None:
        if self.gallery_types is None:
            if labels.probe_mask is None:
                raise ValueError(
                    f"evaluate: protocol {self.name!r} needs probe_mask, one bool per row of emb "
                    "(True for the probes): the partition's PROBE_SET gives it. Add a PROBE_SET "
                    "list to the partition file, or choose the probes by type (probe_types and "
                    "gallery_types)"
                )
            return
        wanted = self.probe_types or [t for group in self.probe_groups.values() for t in group]
        if labels.probe_mask is not None:
            raise ValueError(
                f"evaluate: protocol {self.name!r} picks its probes by type {list(wanted)}; "
                "leave probe_mask out"
            )
        if labels.types is None:
            raise ValueError(f"evaluate: protocol {self.name!r} needs types (one per row of emb)")

    def evaluate(
        self, split: EvalSplit, metric: str = "euc", chunk_size: int | None = None
    ) -> Evaluation:
        self.check_labels(split.labels)
        if self.probe_groups is None:
            return Evaluation(self._metrics(split, self.probe_types, metric, chunk_size))
        metrics: dict[str, float] = {}
        per_group: dict[str, list[float]] = {}
        for group, probe_types in self.probe_groups.items():
            for key, value in self._metrics(split, probe_types, metric, chunk_size).items():
                metrics[f"{self.key_prefix}{group}/{key}"] = value
                if not key.startswith("num_"):
                    per_group.setdefault(key, []).append(value)
        for key, values in per_group.items():  # rates only: counts are not averaged
            metrics[f"{self.key_prefix}mean/{key}"] = float(np.mean(values))
        return Evaluation(metrics)

    def _metrics(
        self,
        split: EvalSplit,
        probe_types: tuple[str, ...] | None,
        metric: str,
        chunk_size: int | None,
    ) -> dict[str, float]:
        """Rank-k, mAP, mINP (%) and the counts of ``probe_types`` (None: the probe mask)
        against the gallery; keys without the group (with ``key_prefix`` for one probe set)."""
        labels = split.labels
        if probe_types is None:
            mask = np.asarray(labels.probe_mask)
            probe_rows, gallery_rows = np.flatnonzero(mask), np.flatnonzero(~mask)
        else:
            probe_rows = rows_of_types(labels.types, probe_types)
            gallery_rows = rows_of_types(labels.types, self.gallery_types)
        if probe_rows.size == 0 or gallery_rows.size == 0:
            raise ValueError(
                f"evaluate: protocol {self.name!r} found {probe_rows.size} probe and "
                f"{gallery_rows.size} gallery sequences; both sets must be non-empty"
            )
        emb = split.emb.detach()
        device = emb.device
        row_ids = encode_ids(labels.ids, {})
        probe_codes = torch.from_numpy(row_ids[probe_rows]).to(device)
        gallery_codes = torch.from_numpy(row_ids[gallery_rows]).to(device)
        chunks = row_distances(emb, probe_rows, gallery_rows, metric, chunk_size)
        ranking = ProbeRanking.concatenate(
            [
                rank_probes(dist, probe_codes[start : start + dist.shape[0]], gallery_codes)
                for start, dist in chunks
            ]
        )
        prefix = self.key_prefix if self.probe_groups is None else ""
        return {
            f"{prefix}{key}": value
            for key, value in summarize_ranking(ranking, self.ks).items()
            if not math.isnan(value)
        }

"""Single-view-gallery protocols (CASIA-B, OU-MVLP): rank-1 and mAP per probe view x gallery view.

For each condition and each pair (probe view ``v1``, gallery view ``v2``) the gallery is the
gallery-type sequences at ``v2`` only; ``rank1[v1, v2]`` is the % of probes at ``v1`` whose
nearest such gallery sequence has their id, ``mAP[v1, v2]`` the mean AP (%) over the probes with
a true match (docs/PROTOCOLS.md, "CASIA-B"). Per probe view the matrix row is averaged over the
gallery views, identical views excluded by default; a condition's score is the mean over its
probe views. The probe x gallery distances are computed once, in probe chunks, over the whole
gallery; each chunk is sliced by gallery view.
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
    masked_mean,
    row_distances,
    rows_of_types,
    sort_views,
)
from gaitwave.evaluation.ranking import encode_ids, rank_probes
from gaitwave.evaluation.report import PerViewRow

PROBES_WITHOUT_MATCH = ("miss", "skip")


@dataclasses.dataclass
class ViewMatrix:
    """One probe condition, probe view x gallery view, in percent."""

    views: list[str]  # sorted view names, e.g. ["000", "018", ..., "180"]
    rank1: np.ndarray  # [V, V] float64 (probe view, gallery view); NaN: no probe or no gallery
    mAP: np.ndarray  # [V, V] float64; NaN where no probe has a true match


def per_view_means(
    matrix: ViewMatrix, exclude_identical_views: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per probe view rank-1 and mAP ``[V]`` (%): mean over gallery views, NaN pairs skipped.

    With ``exclude_identical_views`` the diagonal (v2 == v1) is left out of the mean.
    """
    rank1, mean_ap = matrix.rank1.copy(), matrix.mAP.copy()
    if exclude_identical_views:
        np.fill_diagonal(rank1, np.nan)
        np.fill_diagonal(mean_ap, np.nan)
    return masked_mean(rank1, axis=1), masked_mean(mean_ap, axis=1)


class ConditionProtocol(Protocol):
    """What the protocols scored per condition and probe view share (single- and cross-view
    gallery): a gallery by sequence type, probe groups (condition -> probe types, in report
    order; NM, BG, CL on CASIA-B), rank-1 and mAP per condition and their mean."""

    gallery_types: tuple[str, ...]
    probe_groups: Mapping[str, tuple[str, ...]]

    def check_labels(self, labels: SequenceLabels) -> None:
        if labels.types is None or labels.views is None or labels.probe_mask is not None:
            raise ValueError(
                f"evaluate: protocol {self.name!r} needs types and views (one per row of emb) "
                "and no probe_mask"
            )

    @property
    def metric_keys(self) -> list[str]:
        conditions = [*self.probe_groups, "mean"]
        return [f"{condition}/{name}" for condition in conditions for name in ("rank1", "mAP")]

    def split_rows(
        self, labels: SequenceLabels
    ) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The sorted view names, each row's view index ``[N]``, the gallery rows and each
        condition's probe rows (conditions without a probe left out); errors name what is
        missing."""
        self.check_labels(labels)
        view_names = sort_views(labels.views)
        view_index = {view: i for i, view in enumerate(view_names)}
        row_views = np.array([view_index[v] for v in labels.views], dtype=np.int64)
        gallery_rows = rows_of_types(labels.types, self.gallery_types)
        if gallery_rows.size == 0:
            raise ValueError(
                f"evaluate: no gallery sequence for protocol {self.name!r} (types "
                f"{list(self.gallery_types)}); the types found are {sorted(set(labels.types))}"
            )
        condition_rows = {
            condition: rows_of_types(labels.types, group_types)
            for condition, group_types in self.probe_groups.items()
        }
        condition_rows = {c: rows for c, rows in condition_rows.items() if rows.size > 0}
        if not condition_rows:
            wanted = sorted({t for group in self.probe_groups.values() for t in group})
            raise ValueError(
                f"evaluate: no probe sequence for protocol {self.name!r} (types {wanted}); "
                f"the types found are {sorted(set(labels.types))}"
            )
        return view_names, row_views, gallery_rows, condition_rows


@dataclasses.dataclass(frozen=True)
class ViewProtocol(ConditionProtocol):
    """A single-view-gallery protocol described as data.

    ``probe_groups``: condition name -> probe types, in report order. ``probes_without_match``:
    a probe whose id has no gallery sequence at ``v2`` counts as a wrong rank-1 answer
    (``"miss"``, OpenGait's behaviour) or is left out of ``rank1[v1, v2]`` (``"skip"``); mAP
    always skips it.
    """

    kind = "view"
    name: str
    gallery_types: tuple[str, ...]
    probe_groups: Mapping[str, tuple[str, ...]]
    exclude_identical_views: bool = True
    probes_without_match: str = "miss"

    def __post_init__(self) -> None:
        if self.probes_without_match not in PROBES_WITHOUT_MATCH:
            raise ValueError(
                f"protocol {self.name!r}: probes_without_match must be 'miss' or 'skip', "
                f"got {self.probes_without_match!r}"
            )

    def evaluate(
        self, split: EvalSplit, metric: str = "euc", chunk_size: int | None = None
    ) -> Evaluation:
        return self.summarize(self.matrices(split, metric, chunk_size))

    def matrices(
        self, split: EvalSplit, metric: str = "euc", chunk_size: int | None = None
    ) -> dict[str, ViewMatrix]:
        """Probe view x gallery view rank-1 and mAP (%) for each condition with probes."""
        view_names, row_views, gallery_rows, condition_rows = self.split_rows(split.labels)
        # sorted by view (stable): each gallery view is a contiguous block of columns
        gallery_rows = gallery_rows[np.argsort(row_views[gallery_rows], kind="stable")]
        probe_rows = np.concatenate(list(condition_rows.values()))
        hit, average_precision = self._probe_scores(
            split, probe_rows, gallery_rows, row_views, len(view_names), metric, chunk_size
        )
        probe_views = row_views[probe_rows]
        results: dict[str, ViewMatrix] = {}
        offset = 0
        for condition, rows in condition_rows.items():
            block = slice(offset, offset + rows.size)
            offset += rows.size
            views = probe_views[block]
            rank1 = mean_per_probe_view(hit[block], views, len(view_names))
            mean_ap = mean_per_probe_view(average_precision[block], views, len(view_names))
            results[condition] = ViewMatrix(views=list(view_names), rank1=rank1, mAP=mean_ap)
        return results

    def _probe_scores(
        self,
        split: EvalSplit,
        probe_rows: np.ndarray,
        gallery_rows: np.ndarray,
        row_views: np.ndarray,
        num_views: int,
        metric: str,
        chunk_size: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per probe and gallery view ``[Q, V]``: rank-1 hit (1 / 0; NaN where the gallery view
        is empty or, with ``skip``, the probe has no true match there) and AP (NaN: no match)."""
        emb = split.emb.detach()
        device = emb.device
        row_ids = encode_ids(split.labels.ids, {})
        probe_codes = torch.from_numpy(row_ids[probe_rows]).to(device)
        gallery_codes = torch.from_numpy(row_ids[gallery_rows]).to(device)
        bounds = np.searchsorted(row_views[gallery_rows], np.arange(num_views + 1))
        hit = np.full((probe_rows.size, num_views), np.nan)
        has_match = np.zeros((probe_rows.size, num_views), dtype=bool)
        average_precision = np.full((probe_rows.size, num_views), np.nan)
        for start, dist in row_distances(emb, probe_rows, gallery_rows, metric, chunk_size):
            stop = start + dist.shape[0]
            for v2 in range(num_views):
                lo, hi = int(bounds[v2]), int(bounds[v2 + 1])
                if lo == hi:
                    continue
                ranking = rank_probes(dist[:, lo:hi], probe_codes[start:stop], gallery_codes[lo:hi])
                hit[start:stop, v2] = (ranking.first_match == 1).cpu().numpy()
                has_match[start:stop, v2] = (ranking.num_matches > 0).cpu().numpy()
                average_precision[start:stop, v2] = ranking.average_precision.cpu().numpy()
        if self.probes_without_match == "skip":
            hit = np.where(has_match, hit, np.nan)
        return hit, average_precision

    def summarize(self, matrices: Mapping[str, ViewMatrix]) -> Evaluation:
        """Flat metrics (percent) and the per-view table from :meth:`matrices`.

        Per condition ``c``: ``c/rank1`` and ``c/mAP`` (mean over probe views of the per-view
        means), ``c/rank1@<view>`` and ``c/mAP@<view>`` per probe view. ``mean/rank1`` and
        ``mean/mAP``: the mean over the protocol's conditions, present only when every condition
        has a value. Values that cannot be computed (no probe / gallery pair) are left out.
        """
        per_view: list[PerViewRow] = []
        for condition, matrix in matrices.items():
            rank1, mean_ap = per_view_means(matrix, self.exclude_identical_views)
            per_view += condition_rows_of_table(condition, matrix.views, rank1, mean_ap)
        note = "identical views excluded" if self.exclude_identical_views else "all gallery views"
        metrics = summarize_per_view(per_view, self.probe_groups)
        return Evaluation(metrics, per_view, note, dict(matrices))


def mean_per_probe_view(values: np.ndarray, probe_views: np.ndarray, num_views: int) -> np.ndarray:
    """``[V, ...]`` percent: for each probe view, the mean of ``values [Q, ...]`` over the probes
    at that view (NaN skipped); NaN for views without a probe."""
    out = np.full((num_views, *values.shape[1:]), np.nan)
    for view in range(num_views):
        at_view = probe_views == view
        if at_view.any():
            out[view] = 100.0 * masked_mean(values[at_view], axis=0)
    return out


def condition_rows_of_table(
    condition: str, views: list[str], rank1: np.ndarray, mean_ap: np.ndarray
) -> list[PerViewRow]:
    """``(condition, view, rank1, mAP)`` per probe view, then ``(condition, "mean", ...)``: the
    mean over the probe views with a value."""
    per_view = zip(views, rank1, mean_ap, strict=True)
    rows = [(condition, view, float(r), float(m)) for view, r, m in per_view]
    rows.append((condition, "mean", float(masked_mean(rank1)), float(masked_mean(mean_ap))))
    return rows


def summarize_per_view(
    per_view: list[PerViewRow], probe_groups: Mapping[str, tuple[str, ...]]
) -> dict[str, float]:
    """Flat metrics from a per-view table: ``c/rank1`` and ``c/mAP`` (the ``mean`` rows),
    ``c/rank1@<view>``, ``c/mAP@<view>``, and ``mean/rank1``, ``mean/mAP`` over the protocol's
    conditions when every one has a value. NaN values are left out."""
    metrics: dict[str, float] = {}
    for condition, view, rank1, mean_ap in per_view:
        suffix = "" if view == "mean" else f"@{view}"
        for name, value in (("rank1", rank1), ("mAP", mean_ap)):
            if not math.isnan(value):
                metrics[f"{condition}/{name}{suffix}"] = value
    for name in ("rank1", "mAP"):
        per_condition = [metrics.get(f"{condition}/{name}") for condition in probe_groups]
        if all(value is not None for value in per_condition):
            metrics[f"mean/{name}"] = float(np.mean(per_condition))
    return metrics

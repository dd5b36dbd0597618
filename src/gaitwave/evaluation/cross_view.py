"""Cross-view-gallery protocols: each probe against the gallery at every view, its own view
included except for its own id (docs/PROTOCOLS.md, "CASIA-B, cross-view gallery").

This is the protocol OpenGait evaluates with ``cross_view_gallery=True`` (Yu et al.,
"A Comprehensive Study on the Evaluation of Silhouette-based Gait Recognition"): on CASIA-B the
probes are nm-01 (NM), bg-01 (BG) and cl-01 (CL), the gallery is nm-02, bg-02 and cl-02 at every
view. For a probe of id ``i`` at view ``v``, the gallery sequences of id ``i`` at view ``v`` are
left out: its true matches are its own id at the other views, and the other ids at ``v`` stay as
distractors. Per probe: rank-1 hit (a probe without any true match counts as a miss) and AP (such
a probe is left out of mAP). Per condition and probe view: the mean over its probes; a
condition's score is the mean over its probe views, and ``mean/`` the mean over conditions.

The left-out sequences are ranked after every other one (their distance set to +inf) and are not
true matches, so the ranks of the true matches are those of the reduced gallery.
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
    row_distances,
)
from gaitwave.evaluation.ranking import encode_ids, rank_probes
from gaitwave.evaluation.report import PerViewRow
from gaitwave.evaluation.view import (
    ConditionProtocol,
    condition_rows_of_table,
    mean_per_probe_view,
    summarize_per_view,
)


@dataclasses.dataclass(frozen=True)
class CrossViewGalleryProtocol(ConditionProtocol):
    """A cross-view-gallery protocol described as data (module docstring).

    ``gallery_types``: the gallery, at every view. ``probe_groups``: condition name -> probe
    types, in report order.
    """

    kind = "cross-view-gallery"
    name: str
    gallery_types: tuple[str, ...]
    probe_groups: Mapping[str, tuple[str, ...]]

    def evaluate(
        self, split: EvalSplit, metric: str = "euc", chunk_size: int | None = None
    ) -> Evaluation:
        view_names, row_views, gallery_rows, condition_rows = self.split_rows(split.labels)
        probe_rows = np.concatenate(list(condition_rows.values()))
        hit, average_precision = self._probe_scores(
            split, probe_rows, gallery_rows, row_views, metric, chunk_size
        )
        per_view: list[PerViewRow] = []
        offset = 0
        for condition, rows in condition_rows.items():
            block = slice(offset, offset + rows.size)
            offset += rows.size
            probe_views = row_views[rows]
            rank1 = mean_per_probe_view(hit[block], probe_views, len(view_names))
            mean_ap = mean_per_probe_view(average_precision[block], probe_views, len(view_names))
            per_view += condition_rows_of_table(condition, view_names, rank1, mean_ap)
        metrics = summarize_per_view(per_view, self.probe_groups)
        return Evaluation(metrics, per_view, "cross-view gallery, own id at own view left out")

    def _probe_scores(
        self,
        split: EvalSplit,
        probe_rows: np.ndarray,
        gallery_rows: np.ndarray,
        row_views: np.ndarray,
        metric: str,
        chunk_size: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per probe ``[Q]``: rank-1 hit (1 / 0) and AP (NaN without a true match) against the
        gallery less the probe's own id at the probe's own view."""
        emb = split.emb.detach()
        device = emb.device
        lookup: dict = {}
        row_ids = encode_ids(split.labels.ids, lookup)
        left_out = len(lookup)  # a code no probe has
        gallery_codes = torch.from_numpy(row_ids[gallery_rows]).to(device)
        gallery_views = torch.from_numpy(row_views[gallery_rows]).to(device)
        probe_views = row_views[probe_rows]
        hit = np.zeros(probe_rows.size)
        average_precision = np.full(probe_rows.size, np.nan)
        for view in np.unique(probe_views).tolist():
            positions = np.flatnonzero(probe_views == view)  # into probe_rows
            at_view = gallery_views == view
            # At the probes' view the gallery codes are replaced: no sequence there is a true
            # match; those of the probe's own id are also moved behind every other sequence.
            codes = torch.where(at_view, left_out, gallery_codes)
            chunks = row_distances(emb, probe_rows[positions], gallery_rows, metric, chunk_size)
            for start, dist in chunks:
                chunk = positions[start : start + dist.shape[0]]
                chunk_codes = torch.from_numpy(row_ids[probe_rows[chunk]]).to(device)
                own = at_view & (gallery_codes == chunk_codes.unsqueeze(1))  # [q, G]
                ranking = rank_probes(dist.masked_fill(own, math.inf), chunk_codes, codes)
                hit[chunk] = (ranking.first_match == 1).cpu().numpy()
                average_precision[chunk] = ranking.average_precision.cpu().numpy()
        return hit, average_precision

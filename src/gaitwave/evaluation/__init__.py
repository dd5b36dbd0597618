"""Evaluation: part-mean distances, chunked ranking metrics, protocols and reports.

``part_distance(probe [Q, C, P], gallery [G, C, P], metric)`` -> ``[Q, G]``;
``rank_metrics(dist, probe_ids, gallery_ids, ks)`` -> rank-k, mAP, mINP in percent;
``evaluate(emb [N, C, P], ids, types, views, protocol)`` -> flat metrics in percent.
"""

from gaitwave.evaluation.distance import part_distance
from gaitwave.evaluation.protocols import (
    PROTOCOLS,
    ProtocolSpec,
    ViewMatrix,
    casiab_view_matrices,
    evaluate,
    summarize_view_matrices,
    view_matrices,
)
from gaitwave.evaluation.ranking import rank_metrics

__all__ = [
    "PROTOCOLS",
    "ProtocolSpec",
    "ViewMatrix",
    "casiab_view_matrices",
    "evaluate",
    "part_distance",
    "rank_metrics",
    "summarize_view_matrices",
    "view_matrices",
]

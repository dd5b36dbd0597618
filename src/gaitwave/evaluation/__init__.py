"""Evaluation: part-mean distances, chunked ranking metrics, protocols and reports.

``part_distance(probe [Q, C, P], gallery [G, C, P], metric)`` -> ``[Q, G]``;
``rank_metrics(dist, probe_ids, gallery_ids, ks)`` -> rank-k, mAP, mINP in percent;
``evaluate(emb [N, C, P], ids, types, views, protocol)`` -> flat metrics in percent (CASIA-B,
OU-MVLP; Gait3D with ``probe_mask``; the unofficial GREW proxy);
``write_grew_submission(path, emb, ids, types, names)`` -> the official GREW challenge CSV;
``protocol_from_config(mapping)`` -> a spec from a ``protocol:`` config subtree;
``GaitProtocolMetric``: a torchmetrics ``Metric`` for users' own (distributed) loops.
"""

from gaitwave.evaluation.distance import part_distance
from gaitwave.evaluation.grew import write_grew_submission
from gaitwave.evaluation.metric import GaitProtocolMetric
from gaitwave.evaluation.protocols import (
    PROTOCOLS,
    RETRIEVAL_PROTOCOLS,
    ProtocolSpec,
    RetrievalSpec,
    ViewMatrix,
    casiab_view_matrices,
    evaluate,
    get_any_protocol,
    protocol_from_config,
    retrieval_metrics,
    summarize_view_matrices,
    view_matrices,
)
from gaitwave.evaluation.ranking import rank_metrics

__all__ = [
    "PROTOCOLS",
    "RETRIEVAL_PROTOCOLS",
    "GaitProtocolMetric",
    "ProtocolSpec",
    "RetrievalSpec",
    "ViewMatrix",
    "casiab_view_matrices",
    "evaluate",
    "get_any_protocol",
    "part_distance",
    "protocol_from_config",
    "rank_metrics",
    "retrieval_metrics",
    "summarize_view_matrices",
    "view_matrices",
    "write_grew_submission",
]

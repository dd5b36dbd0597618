"""Evaluation: part-mean distances, chunked ranking metrics, protocols, a Metric and reports.

Functional: ``part_distance(probe [Q, C, P], gallery [G, C, P], metric)`` -> ``[Q, G]``;
``rank_metrics(dist, probe_ids, gallery_ids, ks)`` -> rank-k, mAP, mINP in percent;
``evaluate(emb [N, C, P], ids, types, views, protocol)`` -> flat metrics in percent;
``view_matrices(...)`` -> probe view x gallery view matrices of a single-view-gallery protocol;
``write_grew_submission(path, emb, ids, types, names)`` -> the official GREW challenge CSV.

Protocols: every one is a :class:`Protocol` (``evaluate(EvalSplit) -> Evaluation``,
``metric_keys``, ``headline_key``, ``report``), built in (:data:`PROTOCOLS`, by name through
:func:`get_protocol`) or read from config data (:func:`protocol_from_config`); the kinds are
:class:`ViewProtocol`, :class:`CrossViewGalleryProtocol` and :class:`RetrievalProtocol`.
``GaitProtocolMetric``: a torchmetrics ``Metric`` that gathers embeddings (across processes)
and evaluates a protocol on them.
"""

from gaitwave.evaluation.base import EvalSplit, Evaluation, Protocol, SequenceLabels
from gaitwave.evaluation.cross_view import CrossViewGalleryProtocol
from gaitwave.evaluation.distance import part_distance
from gaitwave.evaluation.grew import write_grew_submission
from gaitwave.evaluation.metric import GaitProtocolMetric
from gaitwave.evaluation.protocols import (
    PROTOCOLS,
    evaluate,
    get_protocol,
    protocol_from_config,
    view_matrices,
)
from gaitwave.evaluation.ranking import rank_metrics
from gaitwave.evaluation.retrieval import RetrievalProtocol
from gaitwave.evaluation.view import ViewMatrix, ViewProtocol, per_view_means

__all__ = [
    "PROTOCOLS",
    "CrossViewGalleryProtocol",
    "EvalSplit",
    "Evaluation",
    "GaitProtocolMetric",
    "Protocol",
    "RetrievalProtocol",
    "SequenceLabels",
    "ViewMatrix",
    "ViewProtocol",
    "evaluate",
    "get_protocol",
    "part_distance",
    "per_view_means",
    "protocol_from_config",
    "rank_metrics",
    "view_matrices",
    "write_grew_submission",
]

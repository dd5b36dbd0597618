"""Each horizontal part alone: the protocol's metrics when sequences are compared by the
embedding of one strip ``p`` (``emb[:, :, p]``) instead of the mean distance over all parts.

Part 0 is the top strip of the silhouette (head), part P-1 the bottom one (feet). Under a
condition that hides some strips (a bag, a coat), those strips identify worse than under normal
walking: this is the measure of which parts a condition corrupts, and so of whether a fusion
that re-weights parts by their training loss favours the ones a condition hides.

Written by :func:`gaitwave.evaluation.report.write_report` as ``per_part.csv``: one line per
part, columns ``part`` then the protocol's metric keys (``NM/rank1``, ``NM/mAP``, ...), in
percent.
"""

from __future__ import annotations

from gaitwave.evaluation.base import EvalSplit, Protocol


def evaluate_parts(
    protocol: Protocol, split: EvalSplit, metric: str = "euc", chunk_size: int | None = None
) -> list[dict[str, float]]:
    """Per part ``p`` of ``split.emb [N, C, P]``, the protocol's ``metric_keys`` (percent) with
    only that part's embedding ``[N, C, 1]``; a list of P dicts, part 0 (top) first."""
    parts = []
    for part in range(split.emb.shape[2]):
        strip = EvalSplit(split.emb[:, :, part : part + 1], split.labels)
        metrics = protocol.evaluate(strip, metric, chunk_size).metrics
        parts.append({key: metrics[key] for key in protocol.metric_keys if key in metrics})
    return parts

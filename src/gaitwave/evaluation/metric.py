"""A torchmetrics ``Metric`` that evaluates a gait protocol from embeddings streamed in batches.

The one way gaitwave gathers embeddings: ``GaitModule`` owns one for its validation and test
loops, and users' own loops can use it too::

    metric = GaitProtocolMetric(ids, types, views, protocol="casiab")   # one entry per dataset row
    for batch in loader:                                                  # any order, any ranks
        metric.update(model(batch["frames"])["embeddings"], batch["index"])
    metrics = metric.compute()                                            # {"NM/rank1": ..., ...}

The states are the embeddings ``[n, C, P]`` and their dataset row indices ``[n]``, concatenated
across processes (``dist_reduce_fx="cat"``). :meth:`GaitProtocolMetric.gathered` keeps one copy
of each row (a ``DistributedSampler`` repeats rows to even out the ranks) and puts the rows in
dataset order; :meth:`~GaitProtocolMetric.compute` and :meth:`~GaitProtocolMetric.evaluation`
run the protocol on them. Rows never seen are left out; embeddings holding NaN or inf raise
:class:`NonFiniteFeaturesError` instead of giving meaningless metrics.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from gaitwave.evaluation.base import EvalSplit, Evaluation, SequenceLabels
from gaitwave.evaluation.protocols import ProtocolLike, get_protocol


class NonFiniteFeaturesError(ValueError):
    """The evaluated embeddings hold NaN or inf: the metrics would be meaningless."""


class GaitProtocolMetric(Metric):
    """Rank-k / mAP / mINP (%) of a protocol (name, config mapping or protocol) over a dataset.

    Args:
        ids, types, views: one entry per dataset row (row ``i`` is what ``update`` calls index
            ``i``). ``types`` and ``views`` may be None where the protocol does not read them.
        protocol: ``"casiab"``, ``"oumvlp"``, ``"gait3d"``, ..., a ``protocol:`` config mapping
            or a :class:`~gaitwave.evaluation.base.Protocol`.
        probe_mask: one bool per dataset row, for protocols that take their probes from a list
            (Gait3D's PROBE_SET).
        metric: ``"euc"`` or ``"cos"``; chunk_size: probe rows per distance chunk.
        kwargs: passed to :class:`torchmetrics.Metric` (``process_group``, ...).

    A protocol that cannot be evaluated with these labels (Gait3D without a probe mask, a view
    protocol without views) fails here, before any embedding is computed.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        ids: Sequence[Hashable],
        types: Sequence[str] | None = None,
        views: Sequence[str] | None = None,
        protocol: ProtocolLike = "casiab",
        probe_mask: Sequence[bool] | None = None,
        metric: str = "euc",
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.protocol = get_protocol(protocol)
        try:
            self.labels = SequenceLabels(ids, types, views, probe_mask)
        except ValueError as error:
            raise ValueError(f"GaitProtocolMetric: {error}") from None
        self.protocol.check_labels(self.labels)
        self.metric = metric
        self.chunk_size = chunk_size
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("rows", default=[], dist_reduce_fx="cat")

    def update(self, emb: Tensor, rows: Tensor) -> None:
        """Add embeddings ``[n, C, P]`` of the dataset rows ``rows [n]`` (int)."""
        if not isinstance(emb, Tensor) or emb.dim() != 3:
            shape = tuple(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
            raise ValueError(f"GaitProtocolMetric.update: emb must be [n, C, P], got {shape}")
        rows = torch.as_tensor(rows, device=emb.device)
        if rows.shape != emb.shape[:1] or rows.is_floating_point():
            raise ValueError(
                f"GaitProtocolMetric.update: rows must be {emb.shape[0]} integer row indices "
                f"(one per embedding), got dtype {rows.dtype} and shape {tuple(rows.shape)}"
            )
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= len(self.labels)):
            raise ValueError(
                f"GaitProtocolMetric.update: row indices must be in [0, {len(self.labels)}) "
                f"(the dataset rows given at construction), got {int(rows.min())}.."
                f"{int(rows.max())}"
            )
        self.embeddings.append(emb.detach())
        self.rows.append(rows.long())

    def compute(self) -> dict[str, float]:
        """The protocol's flat metrics (percent) over the distinct rows seen, in dataset order."""
        return self.protocol.evaluate(self._distinct_rows(), self.metric, self.chunk_size).metrics

    def evaluation(self) -> Evaluation:
        """The protocol's :class:`~gaitwave.evaluation.base.Evaluation` (metrics and report
        tables) over every process's rows; every process must call it."""
        split = self.gathered()
        return self.protocol.evaluate(split, self.metric, self.chunk_size)

    def gathered(self) -> EvalSplit:
        """The distinct rows seen by every process, in dataset order, with their labels; every
        process must call it."""
        with self.sync_context():
            return self._distinct_rows()

    def _distinct_rows(self) -> EvalSplit:
        """The (synced) states: one copy of each row, in dataset order."""
        if isinstance(self.rows, list) and not self.rows:  # after a sync the states are tensors
            raise ValueError("GaitProtocolMetric.compute: call update(emb, rows) first")
        emb, rows = dim_zero_cat(self.embeddings), dim_zero_cat(self.rows)
        order = torch.argsort(rows, stable=True)
        sorted_rows = rows[order]
        first = torch.ones_like(sorted_rows, dtype=torch.bool)
        first[1:] = sorted_rows[1:] != sorted_rows[:-1]  # the first copy of each row
        keep = sorted_rows[first].cpu().tolist()
        emb = emb[order[first]]
        nonfinite = int((~torch.isfinite(emb)).flatten(1).any(dim=1).sum())
        if nonfinite:
            raise NonFiniteFeaturesError(
                f"GaitProtocolMetric: {nonfinite} of {len(keep)} evaluated embeddings contain NaN "
                "or inf: the model produced non-finite features (diverged training or a corrupt "
                "checkpoint), so no metric is computed"
            )
        return EvalSplit(emb, self.labels.select(keep))

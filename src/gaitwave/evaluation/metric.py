"""A torchmetrics ``Metric`` that evaluates a gait protocol from embeddings streamed in batches.

For users' own evaluation loops (the Lightning module gathers its embeddings itself)::

    metric = GaitProtocolMetric(ids, types, views, protocol="casiab")   # one entry per dataset row
    for batch in loader:                                                  # any order, any ranks
        metric.update(model(batch["frames"])["embeddings"], batch["index"])
    metrics = metric.compute()                                            # {"NM/rank1": ..., ...}

The states are the embeddings ``[n, C, P]`` and their dataset row indices ``[n]``, concatenated
across processes (``dist_reduce_fx="cat"``). :meth:`GaitProtocolMetric.compute` keeps one copy
of each row (a ``DistributedSampler`` repeats rows to even out the ranks), puts the rows in
dataset order and runs :func:`gaitwave.evaluation.evaluate` on them. Rows never seen are left out.
"""

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from gaitwave.evaluation.protocols import (
    AnyProtocol,
    ProtocolSpec,
    RetrievalSpec,
    evaluate,
    get_any_protocol,
)


class GaitProtocolMetric(Metric):
    """Rank-k / mAP / mINP (%) of a protocol (name, config mapping or spec) over a dataset.

    Args:
        ids, types, views: one entry per dataset row (row ``i`` is what ``update`` calls index
            ``i``). ``types`` and ``views`` may be None where the protocol does not read them.
        protocol: ``"casiab"``, ``"oumvlp"``, ``"gait3d"``, ..., a ``protocol:`` config mapping
            or a :class:`ProtocolSpec` / :class:`RetrievalSpec`.
        probe_mask: one bool per dataset row, for retrieval protocols without probe types
            (Gait3D's PROBE_SET).
        metric: ``"euc"`` or ``"cos"``; chunk_size: probe rows per distance chunk.
        kwargs: passed to :class:`torchmetrics.Metric` (``process_group``, ...).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        ids: Sequence[Hashable],
        types: Sequence[str] | None = None,
        views: Sequence[str] | None = None,
        protocol: AnyProtocol = "casiab",
        probe_mask: Sequence[bool] | None = None,
        metric: str = "euc",
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.protocol: ProtocolSpec | RetrievalSpec = get_any_protocol(protocol)
        columns = {"types": types, "views": views, "probe_mask": probe_mask}
        lengths = {name: len(c) for name, c in columns.items() if c is not None}
        wrong = {name: n for name, n in lengths.items() if n != len(ids)}
        if wrong:
            raise ValueError(
                f"GaitProtocolMetric: {len(ids)} ids but {wrong}; pass one entry per dataset row"
            )
        self.ids = list(ids)
        self.types = None if types is None else [str(t) for t in types]
        self.views = None if views is None else [str(v) for v in views]
        self.probe_mask = None if probe_mask is None else [bool(m) for m in probe_mask]
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
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= len(self.ids)):
            raise ValueError(
                f"GaitProtocolMetric.update: row indices must be in [0, {len(self.ids)}) "
                f"(the dataset rows given at construction), got {int(rows.min())}.."
                f"{int(rows.max())}"
            )
        self.embeddings.append(emb.detach())
        self.rows.append(rows.long())

    def compute(self) -> dict[str, float]:
        """The protocol's flat metrics (percent) over the distinct rows seen, in dataset order."""
        if isinstance(self.rows, list) and not self.rows:  # after a sync the states are tensors
            raise ValueError("GaitProtocolMetric.compute: call update(emb, rows) first")
        emb, rows = dim_zero_cat(self.embeddings), dim_zero_cat(self.rows)
        order = torch.argsort(rows, stable=True)
        sorted_rows = rows[order]
        first = torch.ones_like(sorted_rows, dtype=torch.bool)
        first[1:] = sorted_rows[1:] != sorted_rows[:-1]  # the first copy of each row
        keep = sorted_rows[first].cpu().numpy()

        def pick(column: Sequence | None) -> list | None:
            return None if column is None else [column[i] for i in keep]

        mask = None if self.probe_mask is None else np.asarray(self.probe_mask)[keep]
        return evaluate(
            emb[order[first]],
            pick(self.ids),
            pick(self.types),
            pick(self.views),
            self.protocol,
            self.metric,
            self.chunk_size,
            mask,
        )

"""What every evaluation protocol shares: the rows it evaluates, its result and its interface.

A protocol decides which rows of a split are gallery and which are probes, ranks the gallery for
every probe and averages the scores (docs/PROTOCOLS.md, "Evaluation protocols"). Every protocol
is a :class:`Protocol`: it evaluates an :class:`EvalSplit` into an :class:`Evaluation`, names the
metric keys a run is compared by and its headline key, and writes its report. Callers hold a
``Protocol`` and never ask which kind it is; the kinds are :mod:`~gaitwave.evaluation.view`
(single-view gallery), :mod:`~gaitwave.evaluation.cross_view` (cross-view gallery) and
:mod:`~gaitwave.evaluation.retrieval` (one probe set against one gallery).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from rich.console import Console
from torch import Tensor

from gaitwave.evaluation.distance import iter_part_distance
from gaitwave.evaluation.report import PerViewRow, write_report


@dataclasses.dataclass
class SequenceLabels:
    """What the protocols know of each row of a split, one entry per row.

    ``ids`` (strings or ints); ``types`` and ``views`` (strings, e.g. ``"nm-05"``, ``"090"``);
    ``probe_mask`` (True for the probes of protocols that take them from a list, e.g. Gait3D's
    PROBE_SET; a list, array or tensor of bools). Columns a protocol does not read may be None.
    """

    ids: list[Hashable]
    types: list[str] | None = None
    views: list[str] | None = None
    probe_mask: list[bool] | None = None

    def __post_init__(self) -> None:
        count = len(self.ids)
        columns = {"types": self.types, "views": self.views}
        wrong = {name: len(c) for name, c in columns.items() if c is not None and len(c) != count}
        if wrong:
            raise ValueError(f"{count} ids but {wrong}; pass one entry per row")
        self.ids = list(self.ids)
        self.types = None if self.types is None else [str(t) for t in self.types]
        self.views = None if self.views is None else [str(v) for v in self.views]
        self.probe_mask = None if self.probe_mask is None else _bools(self.probe_mask, count)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, rows: Sequence[int]) -> SequenceLabels:
        """The labels of ``rows`` (indices), in that order."""

        def pick(column: Sequence | None) -> list | None:
            return None if column is None else [column[i] for i in rows]

        return SequenceLabels(
            pick(self.ids), pick(self.types), pick(self.views), pick(self.probe_mask)
        )


def _bools(mask: Sequence[bool] | np.ndarray | Tensor, count: int) -> list[bool]:
    """A probe mask as a list of bools, or an error naming what is wrong with it."""
    array = np.asarray(mask.tolist() if isinstance(mask, Tensor) else mask)
    if array.shape != (count,) or (count > 0 and array.dtype != bool):
        raise ValueError(
            f"probe_mask must be {count} bools (one per row of emb), got dtype {array.dtype} "
            f"and shape {array.shape}"
        )
    return array.tolist()


@dataclasses.dataclass(frozen=True)
class EvalSplit:
    """The rows under evaluation: embeddings ``[N, C, P]`` (any device) and their labels."""

    emb: Tensor
    labels: SequenceLabels

    def __post_init__(self) -> None:
        check_rows("evaluate", self.emb)
        if self.emb.shape[0] != len(self.labels):
            raise ValueError(
                f"evaluate: emb has {self.emb.shape[0]} rows but there are {len(self.labels)} "
                "labels; pass one id (type, view) per row of emb"
            )


@dataclasses.dataclass
class Evaluation:
    """A protocol's results on one split.

    ``metrics``: flat keys, rates in percent, counts as ints (never NaN). ``per_view``: rows
    ``(condition, probe view, rank1, mAP)`` then a ``mean`` row per condition, averaged the way
    the metrics are (empty for protocols without views); ``per_view_note`` says how.
    ``matrices``: probe view x gallery view matrices per condition, where the protocol has them.
    ``per_part``: where asked for (:mod:`~gaitwave.evaluation.parts`), the metrics of each part
    alone, part 0 (top) first.
    """

    metrics: dict[str, float]
    per_view: list[PerViewRow] = dataclasses.field(default_factory=list)
    per_view_note: str = ""
    matrices: dict = dataclasses.field(default_factory=dict)
    per_part: list[dict[str, float]] = dataclasses.field(default_factory=list)


class Protocol(ABC):
    """An evaluation protocol, written as data (a frozen dataclass with a ``name``).

    Subclasses set ``kind`` (the ``kind:`` of a protocol written in a config) and implement
    :meth:`check_labels`, :meth:`evaluate` and :attr:`metric_keys`.
    """

    kind: ClassVar[str]
    name: str

    @abstractmethod
    def check_labels(self, labels: SequenceLabels) -> None:
        """Raise a ValueError naming what ``labels`` lacks (or has in vain) for this protocol."""

    @abstractmethod
    def evaluate(
        self, split: EvalSplit, metric: str = "euc", chunk_size: int | None = None
    ) -> Evaluation:
        """The protocol's metrics (and report tables) on ``split``; distances ``metric``
        (``euc`` or ``cos``), computed ``chunk_size`` probe rows at a time."""

    @property
    @abstractmethod
    def metric_keys(self) -> list[str]:
        """The keys a run is compared by (per condition and their mean; no per-view keys)."""

    @property
    def headline_key(self) -> str:
        """The one metric a run is judged by (what the console entry points return)."""
        return "mean/rank1"

    def report(
        self, evaluation: Evaluation, out_dir: Path, console: Console | None = None
    ) -> dict[str, Path]:
        """Print the tables and write ``metrics.json`` (and ``per_view.csv``,
        ``view_heatmaps.png``, ``per_part.csv`` where the evaluation has them) into ``out_dir``."""
        title = f"{self.name}: test metrics (%)"
        return write_report(evaluation, Path(out_dir), console or Console(), title)


def check_rows(caller: str, emb: Tensor, **columns: Sequence | None) -> None:
    """`emb` is a tensor `[N, C, P]` and every given column (ids, types, ...) has N entries.

    Columns passed as None are not checked. Errors start with `caller`.
    """
    if not isinstance(emb, Tensor) or emb.dim() != 3:
        shape = tuple(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
        raise ValueError(f"{caller}: emb must be a tensor [N, C, P], got {shape}")
    lengths = {name: len(column) for name, column in columns.items() if column is not None}
    wrong = {name: n for name, n in lengths.items() if n != emb.shape[0]}
    if wrong:
        singular = [name.rstrip("s") for name in lengths]
        names = " and ".join(
            [", ".join(singular[:-1]), singular[-1]] if singular[:-1] else singular
        )
        raise ValueError(
            f"{caller}: emb has {emb.shape[0]} rows but {wrong}; pass one {names} per row of emb"
        )


def masked_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN; NaN where every value is NaN (no warning)."""
    finite = ~np.isnan(values)
    count = finite.sum(axis)
    total = np.where(finite, values, 0.0).sum(axis)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def sort_views(views: Sequence[str]) -> list[str]:
    """Distinct view names, numeric ones in numeric order first ("000" < "018" < ... < "180")."""

    def key(view: str) -> tuple[int, float, str]:
        try:
            return (0, float(view), view)
        except ValueError:
            return (1, 0.0, view)

    return sorted(set(views), key=key)


def rows_of_types(types: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Indices (int64) of the rows whose type is one of ``wanted``."""
    return np.flatnonzero(np.isin(types, wanted))


def row_distances(
    emb: Tensor,
    probe_rows: np.ndarray,
    gallery_rows: np.ndarray,
    metric: str,
    chunk_size: int | None,
) -> Iterator[tuple[int, Tensor]]:
    """Part-mean distances of the probe rows of `emb [N, C, P]` to its gallery rows, in probe
    chunks `(start, dist [q, G])` (see :func:`iter_part_distance`)."""
    device = emb.device
    return iter_part_distance(
        emb,
        emb[torch.from_numpy(gallery_rows).to(device)],
        metric,
        chunk_size,
        probe_rows=torch.from_numpy(probe_rows).to(device),
    )

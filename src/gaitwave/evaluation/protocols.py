"""Evaluation protocols: which sequences are gallery and probes, and how the scores are averaged.

A protocol is data (:class:`ProtocolSpec`): the gallery types, the probe groups (one condition
per group, e.g. CASIA-B's NM / BG / CL), whether identical views are excluded from the per-view
means, and what happens to a probe whose id has no gallery sequence at a gallery view. A protocol
with the same single-view routine is an entry of :data:`PROTOCOLS` (``"casiab"``; ``"oumvlp"``:
gallery seq ``01``, probe seq ``00``, and its variant ``"oumvlp-skip"``).

Protocols without a view split (:class:`RetrievalSpec`: Gait3D, the GREW local proxy) rank one
probe set against one gallery and report rank-k, mAP and mINP (:func:`retrieval_metrics`).
Either kind can be written as config data, the ``protocol:`` subtree of ``conf/data/*.yaml``
(``kind: view | retrieval`` plus the spec's fields), read by :func:`protocol_from_config`.
:func:`evaluate` takes the name, the config mapping or the spec of either kind.

The single-view routine (PROTOCOLS.md, CASIA-B): for each condition and each pair (probe view
``v1``, gallery view ``v2``) the gallery is the gallery-type sequences at ``v2`` only;
``rank1[v1, v2]`` is the % of probes at ``v1`` whose nearest such gallery sequence has their id,
``mAP[v1, v2]`` the mean AP (%) over the probes with a true match. The probe x gallery distances
are computed once, in probe chunks, over the whole gallery; each chunk is sliced by gallery view.
"""

import dataclasses
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from gaitwave.evaluation.distance import iter_part_distance
from gaitwave.evaluation.ranking import ProbeRanking, encode_ids, rank_probes, summarize_ranking


@dataclasses.dataclass
class ViewMatrix:
    """One probe condition, probe view x gallery view, in percent."""

    views: list[str]  # sorted view names, e.g. ["000", "018", ..., "180"]
    rank1: np.ndarray  # [V, V] float64 (probe view, gallery view); NaN: no probe or no gallery
    mAP: np.ndarray  # [V, V] float64; NaN where no probe has a true match


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """A single-view evaluation protocol described as data."""

    name: str
    gallery_types: tuple[str, ...]
    probe_groups: Mapping[str, tuple[str, ...]]  # condition name -> probe types, report order
    exclude_identical_views: bool = True
    # A probe whose id has no gallery sequence at v2: "miss" counts it as a wrong rank-1 answer
    # (OpenGait's behaviour), "skip" leaves it out of rank1[v1, v2]. mAP always skips it.
    probes_without_match: str = "miss"

    def __post_init__(self) -> None:
        if self.probes_without_match not in ("miss", "skip"):
            raise ValueError(
                f"protocol {self.name!r}: probes_without_match must be 'miss' or 'skip', "
                f"got {self.probes_without_match!r}"
            )


CASIAB = ProtocolSpec(
    name="casiab",
    gallery_types=("nm-01", "nm-02", "nm-03", "nm-04"),
    probe_groups={"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")},
)

# OU-MVLP: gallery seq 01, probe seq 00 at 14 views (000..090, 180..270), identical views
# excluded (mean over 13). Default "miss": a probe whose id has no gallery sequence at the gallery
# view counts as a wrong rank-1 answer (OpenGait's behaviour). "oumvlp-skip" leaves such probes
# out of rank1[v1, v2] instead; it is the same spec as
# ``dataclasses.replace(OUMVLP, name="oumvlp-skip", probes_without_match="skip")``.
OUMVLP = ProtocolSpec(name="oumvlp", gallery_types=("01",), probe_groups={"NM": ("00",)})
OUMVLP_SKIP = dataclasses.replace(OUMVLP, name="oumvlp-skip", probes_without_match="skip")


@dataclasses.dataclass(frozen=True)
class RetrievalSpec:
    """A protocol with one probe set against one gallery, no view split.

    With ``probe_types`` and ``gallery_types`` the sets are chosen by sequence type; with both
    ``None`` the probes are the rows flagged by ``probe_mask`` (see :func:`retrieval_metrics`) and
    the gallery is every other row. With ``probe_groups`` (condition -> probe types) and
    ``gallery_types``, each condition's probes are ranked against the whole gallery, every view
    (CASIA-B's cross-view-gallery variant), reported under ``<condition>/`` and their ``mean/``.
    ``ks``: the rank-k reported; ``key_prefix`` is put before every metric key.
    """

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


# Gait3D: probes = the test sequences listed in PROBE_SET (probe_mask), gallery = all other test
# sequences. Probes without a true match in the gallery are skipped.
GAIT3D = RetrievalSpec(name="gait3d", ks=(1, 5, 10))
# GREW local proxy, NOT the official protocol (the official probes, type 03, have hidden labels:
# see gaitwave.evaluation.grew.write_grew_submission). Gallery 01, probe 02.
# CASIA-B with a cross-view gallery: each condition's probes against nm-01..04 at every view
# (the probe's own view included), rank-k, mAP and mINP per condition and their mean.
CASIAB_CROSS_VIEW = RetrievalSpec(
    name="casiab-cross-view",
    gallery_types=CASIAB.gallery_types,
    probe_groups=CASIAB.probe_groups,
)
GREW_PROXY = RetrievalSpec(
    name="grew-proxy",
    ks=(1, 5, 10, 20),
    probe_types=("02",),
    gallery_types=("01",),
    key_prefix="unofficial_proxy/",
)

PROTOCOLS: dict[str, ProtocolSpec] = {
    "casiab": CASIAB,
    "oumvlp": OUMVLP,
    "oumvlp-skip": OUMVLP_SKIP,
}
RETRIEVAL_PROTOCOLS: dict[str, RetrievalSpec] = {
    "gait3d": GAIT3D,
    "grew-proxy": GREW_PROXY,
    "casiab-cross-view": CASIAB_CROSS_VIEW,
}


AnyProtocol = str | Mapping | ProtocolSpec | RetrievalSpec
SPEC_KINDS: dict[str, type[ProtocolSpec] | type[RetrievalSpec]] = {
    "view": ProtocolSpec,
    "retrieval": RetrievalSpec,
}


def _strings(value: object, key: str) -> tuple[str, ...]:
    """A YAML list of strings as a tuple; numbers are refused (YAML reads ``01`` as 1)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{key} must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(
                f"{key}: {item!r} is not a string; quote sequence types and views in YAML "
                "('01', '000'): unquoted, 01 is read as the number 1"
            )
    return tuple(value)


def _field_value(key: str, value: object, where: str) -> object:
    """Convert one config value of a spec field to the dataclass's type, or raise naming it."""
    path = f"{where}.{key}"
    if key in ("gallery_types", "probe_types"):
        return None if value is None else _strings(value, path)
    if key == "probe_groups":
        if not isinstance(value, Mapping) or not value:
            raise ValueError(
                f"{path} must map condition names to lists of probe types, e.g. "
                "{NM: [nm-05, nm-06]}"
            )
        return {str(name): _strings(types, f"{path}.{name}") for name, types in value.items()}
    if key == "ks":
        ks = value if isinstance(value, Sequence) and not isinstance(value, str) else [None]
        if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
            raise ValueError(f"{path} must be a list of ranks >= 1, e.g. [1, 5, 10]; got {value!r}")
        return tuple(ks)
    if key == "exclude_identical_views":
        if not isinstance(value, bool):
            raise ValueError(f"{path} must be true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{path} must be a string, got {value!r}")
    return value


def protocol_from_config(
    config: Mapping, where: str = "data.protocol"
) -> ProtocolSpec | RetrievalSpec:
    """A protocol spec from a config mapping (a ``protocol:`` subtree of ``conf/data/*.yaml``).

    ``kind: view`` gives a :class:`ProtocolSpec` (keys ``name``, ``gallery_types``,
    ``probe_groups``, optional ``exclude_identical_views``, ``probes_without_match``);
    ``kind: retrieval`` a :class:`RetrievalSpec` (``name``, optional ``ks``, ``probe_types``,
    ``gallery_types``, ``key_prefix``). An unknown or missing key, a wrong ``kind`` or a value of
    the wrong type raises a ValueError naming the key (as ``<where>.<key>``) and the fix.
    """
    if not isinstance(config, Mapping):
        raise ValueError(
            f"{where} must be a protocol name or a mapping with `kind: view | retrieval`, "
            f"got {config!r}"
        )
    kind = config.get("kind")
    if kind not in SPEC_KINDS:
        raise ValueError(
            f"{where}.kind is {kind!r}; set `kind: view` (per-view gallery and probe groups, "
            "e.g. CASIA-B) or `kind: retrieval` (one probe set against one gallery, e.g. Gait3D)"
        )
    spec_type = SPEC_KINDS[kind]
    fields = {field.name: field for field in dataclasses.fields(spec_type)}
    unknown = sorted(str(key) for key in config if key != "kind" and key not in fields)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown} for `kind: {kind}`; the keys are "
            f"{['kind', *fields]} (remove or rename the others)"
        )
    required = [
        name
        for name, field in fields.items()
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in config]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing} for `kind: {kind}`; add them")
    values = {key: _field_value(key, config[key], where) for key in config if key != "kind"}
    try:
        return spec_type(**values)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def get_any_protocol(protocol: AnyProtocol) -> ProtocolSpec | RetrievalSpec:
    """The spec named ``protocol`` in :data:`PROTOCOLS` or :data:`RETRIEVAL_PROTOCOLS`.

    A mapping (a config subtree) goes through :func:`protocol_from_config`; a spec is returned
    as it is.
    """
    if isinstance(protocol, ProtocolSpec | RetrievalSpec):
        return protocol
    if isinstance(protocol, Mapping):
        return protocol_from_config(protocol)
    known = {**PROTOCOLS, **RETRIEVAL_PROTOCOLS}
    if protocol not in known:
        raise ValueError(
            f"evaluate: protocol={protocol!r} is unknown; known protocols: {sorted(known)}, or "
            "a mapping with `kind: view | retrieval` (see conf/data/synthgait.yaml)"
        )
    return known[protocol]


def headline_key(protocol: AnyProtocol) -> str:
    """The metric a run is judged by: ``mean/rank1`` (view protocols), ``<key_prefix>mean/rank1``
    (retrieval with probe groups) or ``<key_prefix>rank1``."""
    spec = get_any_protocol(protocol)
    if isinstance(spec, ProtocolSpec):
        return "mean/rank1"
    if spec.probe_groups is not None:
        return f"{spec.key_prefix}mean/rank1"
    return f"{spec.key_prefix}rank1"


def get_protocol(protocol: str | Mapping | ProtocolSpec) -> ProtocolSpec:
    """The single-view :class:`ProtocolSpec` named ``protocol`` (a spec is returned as it is)."""
    spec = get_any_protocol(protocol)
    if isinstance(spec, RetrievalSpec):
        raise ValueError(
            f"view_matrices: protocol {spec.name!r} has no view split; use evaluate(...) or "
            "retrieval_metrics(...) for it"
        )
    return spec


def sort_views(views: Sequence[str]) -> list[str]:
    """Distinct view names, numeric ones in numeric order first ("000" < "018" < ... < "180")."""

    def key(view: str) -> tuple[int, float, str]:
        try:
            return (0, float(view), view)
        except ValueError:
            return (1, 0.0, view)

    return sorted(set(views), key=key)


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


def _row_distances(
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


def view_matrices(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str],
    views: Sequence[str],
    protocol: str | Mapping | ProtocolSpec = "casiab",
    metric: str = "euc",
    chunk_size: int | None = None,
) -> dict[str, ViewMatrix]:
    """Probe view x gallery view rank-1 and mAP (%) for each condition of ``protocol``.

    ``emb [N, C, P]`` on any device; ``ids``, ``types``, ``views``: one per row (strings, e.g.
    ``"075"``, ``"nm-05"``, ``"090"``). Conditions without any probe are left out. The distances
    are computed once, ``chunk_size`` probe rows at a time (see ``part_distance``).
    """
    spec = get_protocol(protocol)
    check_rows("evaluate", emb, ids=ids, types=types, views=views)
    emb = emb.detach()
    types = [str(t) for t in types]
    views = [str(v) for v in views]
    view_names = sort_views(views)
    num_views = len(view_names)
    view_index = {view: i for i, view in enumerate(view_names)}
    row_views = np.array([view_index[v] for v in views], dtype=np.int64)
    lookup: dict = {}
    row_ids = encode_ids(ids, lookup)

    gallery_rows = np.flatnonzero(np.isin(types, spec.gallery_types))
    if gallery_rows.size == 0:
        raise ValueError(
            f"evaluate: no gallery sequence for protocol {spec.name!r} (types "
            f"{list(spec.gallery_types)}); the types found are {sorted(set(types))}"
        )
    condition_rows = {
        condition: np.flatnonzero(np.isin(types, group_types))
        for condition, group_types in spec.probe_groups.items()
    }
    condition_rows = {c: rows for c, rows in condition_rows.items() if rows.size > 0}
    if not condition_rows:
        wanted = sorted({t for group in spec.probe_groups.values() for t in group})
        raise ValueError(
            f"evaluate: no probe sequence for protocol {spec.name!r} (types {wanted}); "
            f"the types found are {sorted(set(types))}"
        )

    # Gallery sorted by view (stable) so that each gallery view is a contiguous column block.
    gallery_rows = gallery_rows[np.argsort(row_views[gallery_rows], kind="stable")]
    bounds = np.searchsorted(row_views[gallery_rows], np.arange(num_views + 1))
    probe_rows = np.concatenate(list(condition_rows.values()))
    device = emb.device
    probe_codes = torch.from_numpy(row_ids[probe_rows]).to(device)
    gallery_codes = torch.from_numpy(row_ids[gallery_rows]).to(device)

    # Per probe and gallery view: rank-1 hit (1/0, NaN: empty gallery view) and AP.
    hit = np.full((probe_rows.size, num_views), np.nan)
    has_match = np.zeros((probe_rows.size, num_views), dtype=bool)
    average_precision = np.full((probe_rows.size, num_views), np.nan)
    chunks = _row_distances(emb, probe_rows, gallery_rows, metric, chunk_size)
    for start, dist in chunks:
        stop = start + dist.shape[0]
        for v2 in range(num_views):
            lo, hi = int(bounds[v2]), int(bounds[v2 + 1])
            if lo == hi:
                continue
            ranking = rank_probes(dist[:, lo:hi], probe_codes[start:stop], gallery_codes[lo:hi])
            hit[start:stop, v2] = (ranking.first_match == 1).cpu().numpy()
            has_match[start:stop, v2] = (ranking.num_matches > 0).cpu().numpy()
            average_precision[start:stop, v2] = ranking.average_precision.cpu().numpy()

    if spec.probes_without_match == "skip":
        hit = np.where(has_match, hit, np.nan)
    probe_views = row_views[probe_rows]
    results: dict[str, ViewMatrix] = {}
    offset = 0
    for condition, rows in condition_rows.items():
        block = slice(offset, offset + rows.size)
        offset += rows.size
        rank1 = np.full((num_views, num_views), np.nan)
        mean_ap = np.full((num_views, num_views), np.nan)
        for v1 in range(num_views):
            at_view = probe_views[block] == v1
            if at_view.any():
                rank1[v1] = 100.0 * masked_mean(hit[block][at_view], axis=0)
                mean_ap[v1] = 100.0 * masked_mean(average_precision[block][at_view], axis=0)
        results[condition] = ViewMatrix(views=list(view_names), rank1=rank1, mAP=mean_ap)
    return results


def casiab_view_matrices(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str],
    views: Sequence[str],
    metric: str = "euc",
    chunk_size: int | None = None,
) -> dict[str, ViewMatrix]:
    """CASIA-B view matrices, keys ``"NM"``, ``"BG"``, ``"CL"`` (those with probes).

    Gallery nm-01..04 at the gallery view; probes NM = nm-05/06, BG = bg-01/02, CL = cl-01/02.
    ``emb [N, C, P]``; ``ids``, ``types``, ``views`` one string per row. See :func:`view_matrices`.
    """
    return view_matrices(emb, ids, types, views, CASIAB, metric, chunk_size)


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


def summarize_view_matrices(
    matrices: Mapping[str, ViewMatrix], protocol: str | Mapping | ProtocolSpec = "casiab"
) -> dict[str, float]:
    """Flat metrics in percent from :func:`view_matrices`.

    Per condition ``c``: ``c/rank1`` and ``c/mAP`` (mean over probe views of the per-view means),
    ``c/rank1@<view>`` and ``c/mAP@<view>`` per probe view. ``mean/rank1`` and ``mean/mAP``: the
    mean over the protocol's conditions, present only when every condition has a value. Values
    that cannot be computed (no probe / gallery pair) are left out, never NaN.
    """
    spec = get_protocol(protocol)
    metrics: dict[str, float] = {}
    for condition, matrix in matrices.items():
        rank1, mean_ap = per_view_means(matrix, spec.exclude_identical_views)
        for name, per_view in (("rank1", rank1), ("mAP", mean_ap)):
            overall = masked_mean(per_view, axis=0)
            if not math.isnan(overall):
                metrics[f"{condition}/{name}"] = float(overall)
            for view, value in zip(matrix.views, per_view, strict=True):
                if not math.isnan(value):
                    metrics[f"{condition}/{name}@{view}"] = float(value)
    for name in ("rank1", "mAP"):
        per_condition = [metrics.get(f"{condition}/{name}") for condition in spec.probe_groups]
        if all(value is not None for value in per_condition):
            metrics[f"mean/{name}"] = float(np.mean(per_condition))
    return metrics


def _probe_and_gallery_rows(
    spec: RetrievalSpec,
    num_rows: int,
    types: Sequence[str] | None,
    probe_mask: Sequence[bool] | np.ndarray | Tensor | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the probes and of the gallery under ``spec``."""
    if spec.probe_types is None:
        if probe_mask is None:
            raise ValueError(
                f"evaluate: protocol {spec.name!r} needs probe_mask, one bool per row of emb "
                "(True for the probe sequences, e.g. those of Gait3D's PROBE_SET)"
            )
        values = probe_mask.tolist() if isinstance(probe_mask, Tensor) else probe_mask
        mask = np.asarray(values)
        if mask.dtype != bool or mask.shape != (num_rows,):
            raise ValueError(
                f"evaluate: probe_mask must be {num_rows} bools (one per row of emb), got "
                f"dtype {mask.dtype} and shape {mask.shape}"
            )
        return np.flatnonzero(mask), np.flatnonzero(~mask)
    if probe_mask is not None:
        raise ValueError(
            f"evaluate: protocol {spec.name!r} picks its probes by type {list(spec.probe_types)}; "
            "leave probe_mask out"
        )
    if types is None:
        raise ValueError(f"evaluate: protocol {spec.name!r} needs types (one per row of emb)")
    types = [str(t) for t in types]
    probe_rows = np.flatnonzero(np.isin(types, spec.probe_types))
    gallery_rows = np.flatnonzero(np.isin(types, spec.gallery_types))
    return probe_rows, gallery_rows


def retrieval_metrics(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str] | None = None,
    protocol: str | Mapping | RetrievalSpec = "gait3d",
    probe_mask: Sequence[bool] | np.ndarray | Tensor | None = None,
    metric: str = "euc",
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Rank-k, mAP and mINP (%) of one probe set against one gallery, no view split.

    ``emb [N, C, P]``, ``ids [N]``; ``types [N]`` for protocols that pick the sets by type
    (``"grew-proxy"``); ``probe_mask [N]`` bools for those that do not (``"gait3d"``: True for
    the sequences of ``PROBE_SET``, the gallery is every other row). Keys: ``rank<k>`` for
    ``k`` in ``spec.ks``, ``mAP``, ``mINP``, ``num_valid``, ``num_skipped`` (probes without a
    true match in the gallery, left out of every mean), each after ``spec.key_prefix``. A metric
    that cannot be computed (no probe has a true match) is left out, never NaN. Distances and
    rankings are streamed ``chunk_size`` probe rows at a time (see ``part_distance``).
    """
    spec = get_any_protocol(protocol)
    if not isinstance(spec, RetrievalSpec):
        raise ValueError(
            f"retrieval_metrics: protocol {spec.name!r} is a view protocol; use evaluate(...)"
        )
    if spec.probe_groups is not None:
        return _grouped_retrieval_metrics(emb, ids, types, spec, metric, chunk_size)
    check_rows("evaluate", emb, ids=ids, types=types)
    probe_rows, gallery_rows = _probe_and_gallery_rows(spec, emb.shape[0], types, probe_mask)
    if probe_rows.size == 0 or gallery_rows.size == 0:
        raise ValueError(
            f"evaluate: protocol {spec.name!r} found {probe_rows.size} probe and "
            f"{gallery_rows.size} gallery sequences; both sets must be non-empty"
        )
    emb = emb.detach()
    device = emb.device
    row_ids = encode_ids(ids, {})
    probe_codes = torch.from_numpy(row_ids[probe_rows]).to(device)
    gallery_codes = torch.from_numpy(row_ids[gallery_rows]).to(device)
    chunks = _row_distances(emb, probe_rows, gallery_rows, metric, chunk_size)
    ranking = ProbeRanking.concatenate(
        [
            rank_probes(dist, probe_codes[start : start + dist.shape[0]], gallery_codes)
            for start, dist in chunks
        ]
    )
    metrics = summarize_ranking(ranking, spec.ks)
    return {
        f"{spec.key_prefix}{key}": value for key, value in metrics.items() if not math.isnan(value)
    }


def _grouped_retrieval_metrics(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str] | None,
    spec: RetrievalSpec,
    metric: str,
    chunk_size: int | None,
) -> dict[str, float]:
    """:func:`retrieval_metrics` per probe group (``<group>/rank1``, ...) and the groups' mean
    (``mean/rank1``, ...) of the rates; counts are not averaged."""
    metrics: dict[str, float] = {}
    per_group: dict[str, list[float]] = {}
    for group, probe_types in spec.probe_groups.items():
        group_spec = dataclasses.replace(
            spec, probe_groups=None, probe_types=probe_types, key_prefix=""
        )
        for key, value in retrieval_metrics(
            emb, ids, types, group_spec, None, metric, chunk_size
        ).items():
            metrics[f"{spec.key_prefix}{group}/{key}"] = value
            if not key.startswith("num_"):
                per_group.setdefault(key, []).append(value)
    for key, values in per_group.items():
        metrics[f"{spec.key_prefix}mean/{key}"] = float(np.mean(values))
    return metrics


def evaluate(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    protocol: AnyProtocol = "casiab",
    metric: str = "euc",
    chunk_size: int | None = None,
    probe_mask: Sequence[bool] | np.ndarray | Tensor | None = None,
) -> dict[str, float]:
    """Evaluate embeddings ``[N, C, P]`` under ``protocol`` (a name or a spec): flat metrics in %.

    View protocols (:data:`PROTOCOLS`: ``"casiab"``, ``"oumvlp"``, ``"oumvlp-skip"``) need
    ``types`` and ``views``, one per row of ``emb``; keys as in :func:`summarize_view_matrices`
    (``NM/rank1``, ``NM/rank1@000``, ``mean/rank1``, ...). To also get the view matrices (for
    :func:`gaitwave.evaluation.report.write_report`), call :func:`view_matrices` and
    :func:`summarize_view_matrices`. Retrieval protocols (:data:`RETRIEVAL_PROTOCOLS`:
    ``"gait3d"`` with ``probe_mask [N]``, ``"grew-proxy"`` with ``types``) ignore ``views``; keys
    as in :func:`retrieval_metrics` (``rank1``, ``mAP``, ``mINP``, ...).
    """
    spec = get_any_protocol(protocol)
    if isinstance(spec, RetrievalSpec):
        return retrieval_metrics(emb, ids, types, spec, probe_mask, metric, chunk_size)
    if types is None or views is None or probe_mask is not None:
        raise ValueError(
            f"evaluate: protocol {spec.name!r} needs types and views (one per row of emb) and "
            "no probe_mask"
        )
    return summarize_view_matrices(
        view_matrices(emb, ids, types, views, spec, metric, chunk_size), spec
    )

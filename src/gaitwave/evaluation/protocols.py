"""The built-in protocols by name, protocols written as config data, and evaluation by name.

:data:`PROTOCOLS` holds every built-in protocol (docs/PROTOCOLS.md):

- ``casiab``: CASIA-B's single-view gallery (nm-01..04 at one view; NM, BG, CL probes);
- ``casiab-cross-view``: CASIA-B's cross-view gallery as OpenGait evaluates it (probes nm-01,
  bg-01, cl-01 against nm-02, bg-02, cl-02 at every view, the probe's own id at its own view
  left out);
- ``casiab-retrieval``: each CASIA-B condition against nm-01..04 at every view, the probe's own
  view included, as a retrieval task (rank-k, mAP, mINP);
- ``oumvlp`` (gallery seq 01, probe seq 00) and ``oumvlp-skip`` (probes without a gallery
  sequence at a view left out instead of counted as misses);
- ``gait3d``: probes from the partition's PROBE_SET against the other test sequences;
- ``grew-proxy``: GREW's local, NOT official, proxy (gallery 01, probe 02).

A run config names its protocol in ``data.protocol``: a built-in name, a mapping with ``name``
(a built-in) and the fields it changes, or a protocol written out with ``kind:`` (``view``,
``cross-view-gallery`` or ``retrieval``) and its fields; :func:`get_protocol` reads all three.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from torch import Tensor

from gaitwave.evaluation.base import EvalSplit, Protocol, SequenceLabels, check_rows
from gaitwave.evaluation.cross_view import CrossViewGalleryProtocol
from gaitwave.evaluation.retrieval import RetrievalProtocol
from gaitwave.evaluation.view import ViewMatrix, ViewProtocol

CASIAB = ViewProtocol(
    name="casiab",
    gallery_types=("nm-01", "nm-02", "nm-03", "nm-04"),
    probe_groups={"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")},
)
CASIAB_CROSS_VIEW = CrossViewGalleryProtocol(
    name="casiab-cross-view",
    gallery_types=("nm-02", "bg-02", "cl-02"),
    probe_groups={"NM": ("nm-01",), "BG": ("bg-01",), "CL": ("cl-01",)},
)
CASIAB_RETRIEVAL = RetrievalProtocol(
    name="casiab-retrieval",
    gallery_types=CASIAB.gallery_types,
    probe_groups=CASIAB.probe_groups,
)
# OU-MVLP: gallery seq 01, probe seq 00 at 14 views; identical views excluded (mean over 13).
OUMVLP = ViewProtocol(name="oumvlp", gallery_types=("01",), probe_groups={"NM": ("00",)})
OUMVLP_SKIP = dataclasses.replace(OUMVLP, name="oumvlp-skip", probes_without_match="skip")
GAIT3D = RetrievalProtocol(name="gait3d", ks=(1, 5, 10))
# NOT the official GREW protocol (its probes, type 03, have hidden labels: see
# gaitwave.evaluation.grew.write_grew_submission); its keys say so.
GREW_PROXY = RetrievalProtocol(
    name="grew-proxy",
    ks=(1, 5, 10, 20),
    probe_types=("02",),
    gallery_types=("01",),
    key_prefix="unofficial_proxy/",
)

PROTOCOLS: dict[str, Protocol] = {
    protocol.name: protocol
    for protocol in (
        CASIAB,
        CASIAB_CROSS_VIEW,
        CASIAB_RETRIEVAL,
        OUMVLP,
        OUMVLP_SKIP,
        GAIT3D,
        GREW_PROXY,
    )
}
KINDS: dict[str, type[Protocol]] = {
    kind.kind: kind for kind in (ViewProtocol, CrossViewGalleryProtocol, RetrievalProtocol)
}

ProtocolLike = str | Mapping | Protocol


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
    """Convert one config value of a protocol field to the dataclass's type, or raise naming it."""
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


def _fields(kind: type[Protocol], config: Mapping, where: str) -> dict[str, object]:
    """The protocol fields of ``config`` (keys other than ``kind``), converted and checked."""
    fields = [field.name for field in dataclasses.fields(kind)]
    unknown = sorted(str(key) for key in config if key != "kind" and key not in fields)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown} for `kind: {kind.kind}`; the keys are "
            f"{['kind', *fields]} (remove or rename the others)"
        )
    return {key: _field_value(key, config[key], where) for key in config if key != "kind"}


def _create(kind: type[Protocol], values: Mapping, where: str, base: Protocol | None) -> Protocol:
    """``kind(**values)`` (or ``base`` with ``values`` replaced); a ValueError of the protocol's
    own checks is prefixed with ``where``."""
    try:
        return kind(**values) if base is None else dataclasses.replace(base, **values)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def protocol_from_config(config: Mapping, where: str = "data.protocol") -> Protocol:
    """A protocol from a config mapping (``data.protocol`` of a run config).

    With ``kind`` (``view``, ``cross-view-gallery`` or ``retrieval``) the mapping writes a
    protocol out: ``name`` and the other fields of that kind's class. Without ``kind``,
    ``name`` is a built-in protocol and the other keys change its fields, e.g.
    ``{name: oumvlp, probes_without_match: skip}``. An unknown or missing key, a wrong ``kind``
    or a value of the wrong type raises a ValueError naming the key (as ``<where>.<key>``).
    """
    if not isinstance(config, Mapping):
        raise ValueError(
            f"{where} must be a protocol name or a mapping with `name` (and `kind` to write one "
            f"out), got {config!r}"
        )
    if "kind" not in config:
        base = PROTOCOLS.get(config.get("name"))
        if base is None:
            raise ValueError(
                f"{where}: name {config.get('name')!r} is not a built-in protocol "
                f"{sorted(PROTOCOLS)}; name one, or write a protocol out with `kind: view`, "
                "`kind: cross-view-gallery` or `kind: retrieval`"
            )
        return _create(type(base), _fields(type(base), config, where), where, base)
    kind = KINDS.get(config["kind"])
    if kind is None:
        raise ValueError(
            f"{where}.kind is {config['kind']!r}; set `kind: view` (a single-view gallery per "
            "view pair, e.g. CASIA-B), `kind: cross-view-gallery` (the gallery at every view) or "
            "`kind: retrieval` (one probe set against one gallery, e.g. Gait3D)"
        )
    required = [
        field.name
        for field in dataclasses.fields(kind)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in config]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing} for `kind: {kind.kind}`; add them")
    return _create(kind, _fields(kind, config, where), where, None)


def get_protocol(protocol: ProtocolLike) -> Protocol:
    """The protocol named ``protocol`` in :data:`PROTOCOLS`, read from a config mapping
    (:func:`protocol_from_config`), or ``protocol`` itself."""
    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, Mapping):
        return protocol_from_config(protocol)
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"evaluate: protocol={protocol!r} is unknown; known protocols: {sorted(PROTOCOLS)}, "
            "or a mapping with `name` (and `kind: view | cross-view-gallery | retrieval` to "
            "write one out; see docs/PROTOCOLS.md)"
        )
    return PROTOCOLS[protocol]


def evaluate(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    protocol: ProtocolLike = "casiab",
    metric: str = "euc",
    chunk_size: int | None = None,
    probe_mask: Sequence[bool] | np.ndarray | Tensor | None = None,
) -> dict[str, float]:
    """Evaluate embeddings ``[N, C, P]`` under ``protocol`` (a name, a mapping or a protocol):
    its flat metrics in percent.

    ``ids``, ``types``, ``views``, ``probe_mask``: one per row of ``emb``, where the protocol
    reads them (view protocols: types and views; ``"gait3d"``: probe_mask; ``"grew-proxy"``:
    types). ``metric``: ``euc`` or ``cos``; ``chunk_size`` probe rows at a time. For the report
    tables too, call ``get_protocol(protocol).evaluate(EvalSplit(emb, labels))``.
    """
    check_rows("evaluate", emb, ids=ids, types=types, views=views)
    split = EvalSplit(emb, SequenceLabels(ids, types, views, probe_mask))
    return get_protocol(protocol).evaluate(split, metric, chunk_size).metrics


def view_matrices(
    emb: Tensor,
    ids: Sequence[Hashable],
    types: Sequence[str],
    views: Sequence[str],
    protocol: str | Mapping | ViewProtocol = "casiab",
    metric: str = "euc",
    chunk_size: int | None = None,
) -> dict[str, ViewMatrix]:
    """Probe view x gallery view rank-1 and mAP (%) per condition of a single-view-gallery
    ``protocol``; ``emb [N, C, P]``, ``ids``, ``types``, ``views`` one per row. Conditions
    without a probe are left out."""
    spec = get_protocol(protocol)
    if not isinstance(spec, ViewProtocol):
        raise ValueError(
            f"view_matrices: protocol {spec.name!r} has no view split (probe view x gallery "
            "view); use evaluate(...) for it"
        )
    check_rows("evaluate", emb, ids=ids, types=types, views=views)
    return spec.matrices(EvalSplit(emb, SequenceLabels(ids, types, views)), metric, chunk_size)

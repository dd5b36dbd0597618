"""Protocols as config data (every conf/data/*.yaml names one that parses; bad ones explain) and
the evaluation settings of a run config (data.protocol, eval.metric, eval.feature)."""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf

from gaitwave.build import build_module
from gaitwave.config import config_dir
from gaitwave.evaluation import PROTOCOLS, Protocol, evaluate, get_protocol, protocol_from_config
from gaitwave.evaluation.settings import eval_settings, upgrade_moved_keys

DATA_CONFIGS = sorted(path.stem for path in (config_dir() / "data").glob("*.yaml"))

CASIAB_CONFIG = {
    "name": "casiab",
    "kind": "view",
    "gallery_types": ["nm-01", "nm-02", "nm-03", "nm-04"],
    "probe_groups": {"NM": ["nm-05", "nm-06"], "BG": ["bg-01", "bg-02"], "CL": ["cl-01", "cl-02"]},
    "exclude_identical_views": True,
    "probes_without_match": "miss",
}


@pytest.mark.parametrize("data", DATA_CONFIGS)
def test_every_data_config_protocol_parses(data: str, compose_config) -> None:
    cfg = compose_config("train", f"data={data}")
    spec = get_protocol(eval_settings(cfg).protocol)
    assert isinstance(spec, Protocol)
    if spec.name in PROTOCOLS:  # written out, a built-in protocol must say the same as its name
        assert spec == PROTOCOLS[spec.name]


def test_view_and_retrieval_mappings() -> None:
    assert protocol_from_config(CASIAB_CONFIG) == PROTOCOLS["casiab"]
    gait3d = {"name": "gait3d", "kind": "retrieval", "ks": [1, 5, 10]}
    assert protocol_from_config(gait3d) == PROTOCOLS["gait3d"]
    skip = {**CASIAB_CONFIG, "probes_without_match": "skip", "exclude_identical_views": False}
    assert protocol_from_config(skip) == dataclasses.replace(
        PROTOCOLS["casiab"], probes_without_match="skip", exclude_identical_views=False
    )
    # optional keys take the dataclass defaults
    minimal = {k: CASIAB_CONFIG[k] for k in ("name", "kind", "gallery_types", "probe_groups")}
    assert protocol_from_config(minimal) == PROTOCOLS["casiab"]


def test_evaluate_takes_a_name_or_a_mapping() -> None:
    generator = torch.Generator().manual_seed(0)
    rows = [
        (f"{i:03d}", t, v)
        for i in range(4)
        for t in ("nm-01", "nm-05", "bg-01")
        for v in ("000", "090")
    ]
    emb = torch.randn(len(rows), 3, 2, generator=generator)
    ids, types, views = ([row[k] for row in rows] for k in range(3))
    by_name = evaluate(emb, ids, types, views, protocol="casiab")
    assert evaluate(emb, ids, types, views, protocol=CASIAB_CONFIG) == by_name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probe_group": {}}, r"unknown key\(s\) \['probe_group'\] for `kind: view`"),
        ({"kind": None}, r"data.protocol.kind is None; set `kind: view`"),
        ({"kind": "ranking"}, r"data.protocol.kind is 'ranking'"),
        ({"ks": [1]}, r"unknown key\(s\) \['ks'\] for `kind: view`"),
        ({"gallery_types": ["01", 2]}, r"data.protocol.gallery_types: 2 is not a string; quote"),
        ({"gallery_types": "nm-01"}, r"data.protocol.gallery_types must be a list of strings"),
        ({"probe_groups": ["nm-05"]}, r"data.protocol.probe_groups must map condition names"),
        ({"probe_groups": {"NM": [5]}}, r"data.protocol.probe_groups.NM: 5 is not a string"),
        ({"probes_without_match": "drop"}, r"data.protocol: .*must be 'miss' or 'skip'"),
        ({"exclude_identical_views": "yes"}, r"exclude_identical_views must be true or false"),
    ],
)
def test_bad_view_config_names_the_key(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        protocol_from_config({**CASIAB_CONFIG, **change})


def test_missing_keys_and_bad_retrieval_values() -> None:
    with pytest.raises(ValueError, match=r"missing key\(s\) \['probe_groups'\] for `kind: view`"):
        protocol_from_config({k: v for k, v in CASIAB_CONFIG.items() if k != "probe_groups"})
    with pytest.raises(ValueError, match=r"missing key\(s\) \['name'\] for `kind: retrieval`"):
        protocol_from_config({"kind": "retrieval"})
    retrieval = {"name": "r", "kind": "retrieval"}
    with pytest.raises(ValueError, match=r"data.protocol.ks must be a list of ranks >= 1"):
        protocol_from_config({**retrieval, "ks": [0, 5]})
    with pytest.raises(ValueError, match=r"data.protocol: .*give both probe_types and gallery"):
        protocol_from_config({**retrieval, "probe_types": ["02"]})
    with pytest.raises(ValueError, match=r"custom.key_prefix must be a string"):
        protocol_from_config({**retrieval, "key_prefix": 3}, where="custom")
    with pytest.raises(ValueError, match=r"a protocol name or a mapping"):
        protocol_from_config(["casiab"])
    with pytest.raises(ValueError, match=r"protocol='casia' is unknown"):
        get_protocol("casia")


def test_module_parses_the_protocol_when_built(tmp_path, compose_config) -> None:
    """A config subtree and an old checkpoint's plain name both build; a bad subtree fails
    before any training."""
    cfg = compose_config("train", f"paths.output_dir={tmp_path}")
    assert build_module(cfg, num_classes=4).protocol == PROTOCOLS["casiab"]
    cfg.data.protocol = "casiab"  # what checkpoints written before protocol subtrees store
    assert build_module(cfg, num_classes=4).protocol == PROTOCOLS["casiab"]
    cfg.data.protocol = {**CASIAB_CONFIG, "probe_groups": {"NM": ["nm-05"]}, "typo": 1}
    with pytest.raises(ValueError, match=r"data.protocol: unknown key\(s\) \['typo'\]"):
        build_module(cfg, num_classes=4)


def test_a_built_in_with_changed_fields() -> None:
    """Without `kind`, `name` is a built-in protocol and the other keys change its fields."""
    skip = protocol_from_config({"name": "oumvlp", "probes_without_match": "skip"})
    assert skip == dataclasses.replace(PROTOCOLS["oumvlp"], probes_without_match="skip")
    assert protocol_from_config({"name": "gait3d"}) == PROTOCOLS["gait3d"]
    with pytest.raises(ValueError, match=r"data.protocol: name 'casia' is not a built-in"):
        protocol_from_config({"name": "casia"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['ks'\] for `kind: view`"):
        protocol_from_config({"name": "casiab", "ks": [1]})


def test_evaluation_settings_and_their_moved_keys(compose_config) -> None:
    cfg = compose_config("train", "eval.metric=cos", "eval.feature=bn_embeddings")
    settings = eval_settings(cfg)
    assert (settings.protocol, settings.metric, settings.feature) == (
        "casiab",
        "cos",
        "bn_embeddings",
    )
    for old, new in (("data.metric", "eval.metric"), ("eval_feature", "eval.feature")):
        moved = compose_config("train", f"+{old}=cos")
        with pytest.raises(ValueError, match=f"{old} moved to {new}: set `{new}=cos`"):
            eval_settings(moved)
    # a checkpoint's config from before the move
    old = OmegaConf.create({"data": {"protocol": "casiab", "metric": "cos"}, "eval_feature": "x"})
    upgraded = upgrade_moved_keys(old)
    assert "metric" not in upgraded.data and "eval_feature" not in upgraded
    assert (upgraded.eval.metric, upgraded.eval.feature) == ("cos", "x")
    assert upgrade_moved_keys(cfg) is cfg

"""Importing OpenGait checkpoints: OpenGait parameter names and layouts -> `GaitModel` state dicts.

Supported OpenGait models (`model_cfg.model`) and the gaitwave config that rebuilds each:

- `GaitSet` -> `experiment=gaitset` (OU-MVLP: `backbone.channels=[64,128,256]`). OpenGait's
  GaitSet has no BNNeck and no classifier: ours keeps its initial values, `num_classes` is 1.
- `GaitGL` -> `experiment=gaitgl` (CASIA-B); `experiment=gaitgl backbone=gaitgl_oumvlp
  head.embed_dim=256` (OU-MVLP, GREW). Both of OpenGait's heads: the original one (`Bn`,
  `Head1`; OpenGait evaluates the BatchNorm output, so the import sets
  `eval.feature=bn_embeddings`) and `SeparateBNNecks`.
- `Baseline` (GaitBase, ResNet9 backbone) -> `backbone=gaitbase head=hpp
  backbone.channels=[64,128,256,512] head.embed_dim=256`.
- `GaitPart` -> `experiment=gaitpart` (OU-MVLP: `backbone.layers=[BC-32,BC-32,M,BC-64,BC-64,M,
  FC-128-3,FC-128-3,FC-256-3,FC-256-3] head.embed_dim=256`). No BNNeck in OpenGait's GaitPart:
  ours keeps its initial values, `num_classes` is 1.
- `DeepGaitV2` (modes 2d, p3d, 3d) -> `experiment=deepgaitv2` (add `backbone.layers=[1,4,4,1]`
  for the Gait3D / GREW / OU-MVLP model, `backbone.mode=2d|3d` for the other modes).

Every OpenGait tensor must find its place and every gaitwave tensor must be filled (except the
ones listed in `keep_initial`); otherwise `OpenGaitImportError` names the missing, unexpected and
wrongly shaped keys and the overrides that build a model matching the checkpoint. Command line:
`gaitwave-import-opengait` (`gaitwave.import_opengait`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gaitwave.models import GaitModel

#: Rebuilds our tensor from OpenGait's: `(tensor, model) -> tensor`.
Convert = Callable[[Tensor, GaitModel], Tensor]
#: Our parameter name for a matched OpenGait name: `(match, opengait_names) -> name`.
Target = Callable[[re.Match, Sequence[str]], str]


class OpenGaitImportError(ValueError):
    """An OpenGait checkpoint that does not fit the configured gaitwave model."""


def _same(tensor: Tensor, model: GaitModel) -> Tensor:
    return tensor


def _channel_bn_over_parts(tensor: Tensor, model: GaitModel) -> Tensor:
    """OpenGait GaitGL's `BatchNorm1d(C)` on `[N, C, P]` (statistics per channel, shared by the
    parts) as our BNNeck's `BatchNorm1d(C * P)` on the flattened `[N, C * P]`: entry `c * P + p`
    takes channel c's value. Exact in eval mode; in training the statistics are then per part.
    `num_batches_tracked` (a scalar) is kept."""
    if tensor.dim() == 0:
        return tensor
    return tensor.repeat_interleave(model.head.bnneck.parts)


def gaitset_part_order(bins: Sequence[int]) -> list[int]:
    """OpenGait GaitSet part index of each of our GaitSet parts.

    Our GaitSet head pools the set-pooled maps stacked on top of the global maps with bins `2 b`:
    per pyramid level, b set strips then b global strips. OpenGait pools each map with bins b and
    concatenates all set parts (levels 16, 8, 4, 2, 1), then all global parts.
    """
    if any(b % 2 for b in bins):
        raise OpenGaitImportError(
            f"GaitSet head bins must be even (2 b: b strips per branch), got {list(bins)}; use "
            "head=gaitset (bins [32, 16, 8, 4, 2])"
        )
    levels = [b // 2 for b in bins]
    order, offset = [], 0
    for level in levels:
        order += [offset + i for i in range(level)]
        order += [sum(levels) + offset + i for i in range(level)]
        offset += level
    return order


def _gaitset_parts(tensor: Tensor, model: GaitModel) -> Tensor:
    """OpenGait GaitSet's part FC `[P, C, D]` in our part order (`gaitset_part_order`)."""
    order = gaitset_part_order(model.head.pooling.bins)
    return tensor[order] if tensor.shape[0] == len(order) else tensor


def _gaitgl_stem(match: re.Match, names: Sequence[str]) -> str:
    """OpenGait's `conv3d` Sequential holds conv, LeakyReLU, conv, ...: conv 2 k is our stem k."""
    return f"backbone.stem.{int(match['index']) // 2}.weight"


_GAITGL_STAGES = ("A0", "A1", "B2")


def _gaitgl_block(match: re.Match, names: Sequence[str]) -> str:
    """`GLConv{A0,A1,B2}[.k]` (one GLConv per stage on CASIA-B, a Sequential of them on OU-MVLP)
    -> our flat `blocks.{stage * blocks_per_stage + k}`."""
    per_stage = 1 + max(
        (int(m["k"]) for m in map(_GAITGL_BLOCK.fullmatch, names) if m and m["k"]), default=0
    )
    index = _GAITGL_STAGES.index(match["stage"]) * per_stage + int(match["k"] or 0)
    return f"backbone.blocks.{index}.{match['branch']}_conv.weight"


_GAITGL_BLOCK = re.compile(
    r"GLConv(?P<stage>A0|A1|B2)\.(?:(?P<k>\d+)\.)?(?P<branch>global|local)_conv3d\.conv3d\.weight"
)

#: Our GaitBase trunk: stem conv, BatchNorm, ReLU, then the residual blocks in order.
_GAITBASE_FIRST_BLOCK = 3
_RESNET_BLOCK = re.compile(r"Backbone\.forward_block\.layer(?P<stage>\d)\.(?P<k>\d+)\.(?P<rest>.+)")


def _gaitbase_block(match: re.Match, names: Sequence[str]) -> str:
    """ResNet9 `layer{s}.{k}` -> our trunk position: blocks numbered in (stage, k) order as they
    appear in the checkpoint; `downsample` is our `shortcut`."""
    blocks = sorted(
        {(int(m["stage"]), int(m["k"])) for m in map(_RESNET_BLOCK.fullmatch, names) if m}
    )
    index = _GAITBASE_FIRST_BLOCK + blocks.index((int(match["stage"]), int(match["k"])))
    rest = match["rest"].replace("downsample.", "shortcut.", 1)
    return f"backbone.trunk.module.{index}.{rest}"


@dataclass(frozen=True)
class Rule:
    """OpenGait names matching `source` (a full-match regex) go to `target` (a `re` template
    or a function of the match), through `convert`. A target `"name[k]"` is slice k along the
    first axis of our `name`: OpenGait's per-part modules stacked into one tensor here."""

    source: str
    target: str | Target
    convert: Convert = _same

    def target_name(self, match: re.Match, names: Sequence[str]) -> str:
        return (
            match.expand(self.target) if isinstance(self.target, str) else self.target(match, names)
        )


#: OpenGait's SeparateBNNecks (parallel BatchNorm1d over C * P, normalised classifier): our BNNeck.
_BNNECK_RULES = (
    Rule(r"BNNecks\.bn1d\.(\w+)", r"head.bnneck.bn.\1"),
    Rule(r"BNNecks\.fc_bin", "head.bnneck.class_weight"),
)


def _gaitset_overrides(state: Mapping[str, Tensor]) -> str:
    channels = [state[f"set_block{i}.forward_block.0.conv.weight"].shape[0] for i in (1, 2, 3)]
    return (
        f"experiment=gaitset backbone.channels={_listing(channels)} "
        f"head.embed_dim={state['Head.fc_bin'].shape[2]}"
    )


def _gaitgl_overrides(state: Mapping[str, Tensor]) -> str:
    oumvlp = "conv3d.2.conv3d.weight" in state
    first = ".0" if oumvlp else ""
    channels = [state["conv3d.0.conv3d.weight"].shape[0]] + [
        state[f"GLConv{stage}{first}.global_conv3d.conv3d.weight"].shape[0]
        for stage in _GAITGL_STAGES
    ]
    return (
        f"experiment=gaitgl{' backbone=gaitgl_oumvlp' if oumvlp else ''} "
        f"backbone.channels={_listing(channels)} head.embed_dim={state['Head0.fc_bin'].shape[2]}"
    )


def _gaitbase_overrides(state: Mapping[str, Tensor]) -> str:
    blocks = [(int(m["stage"]), int(m["k"])) for m in map(_RESNET_BLOCK.fullmatch, state) if m]
    stages = sorted({s for s, _ in blocks})
    channels = [state[f"Backbone.forward_block.layer{s}.0.conv1.weight"].shape[0] for s in stages]
    layers = [len({k for s2, k in blocks if s2 == s}) for s in stages]
    parts, _, embed_dim = state["FCs.fc_bin"].shape
    return (
        f"backbone=gaitbase head=hpp backbone.channels={_listing(channels)} "
        f"backbone.layers={_listing(layers)} head.embed_dim={embed_dim} head.bins=[{parts}]"
    )


#: OpenGait's GaitPart `layers_cfg` (CASIA-B; OU-MVLP and GREW): kinds and halvings by position.
_GAITPART_LAYERS = (
    ("BC-32", "BC-32", "M", "FC-64-2", "FC-64-2", "M", "FC-128-3", "FC-128-3"),
    ("BC-32", "BC-32", "M", "BC-64", "BC-64", "M", "FC-128-3", "FC-128-3", "FC-256-3", "FC-256-3"),
)
_PLAIN_CONV = re.compile(r"Backbone\.forward_block\.feature\.(\d+)\.conv\.weight")


def _gaitpart_overrides(state: Mapping[str, Tensor]) -> str:
    """OpenGait's `Plain` backbone numbers its modules conv, LeakyReLU, [MaxPool,] conv, ...: the
    conv indices give the pools and the shapes the widths. A focal conv's halving is not in the
    checkpoint: it is taken from the OpenGait config with the same layout ("BC" if none)."""
    convs = sorted(int(m[1]) for m in map(_PLAIN_CONV.fullmatch, state) if m)
    layout: list[str | int] = []  # "M" or a conv's width
    for previous, index in zip([-2, *convs], convs, strict=False):
        layout += ["M"] * (index - previous - 2)
        layout.append(state[f"Backbone.forward_block.feature.{index}.conv.weight"].shape[0])
    pools = [x == "M" for x in layout]
    kinds = next(
        (k for k in _GAITPART_LAYERS if [x == "M" for x in k] == pools),
        ["M" if pool else "BC-0" for pool in pools],
    )
    layers = [
        kind if kind == "M" else "-".join([kind.split("-")[0], str(width), *kind.split("-")[2:]])
        for kind, width in zip(kinds, layout, strict=True)
    ]
    hidden, channels = state["TFA.pooling_func.conv1d3x1.0.0.conv.weight"].shape[:2]
    parts, _, embed_dim = state["Head.fc_bin"].shape
    return (
        f"experiment=gaitpart backbone.layers=[{','.join(layers)}] head.embed_dim={embed_dim} "
        f"head.bins=[{parts}] head.squeeze={channels // hidden}"
    )


_DGV2_BLOCK = re.compile(r"layer(?P<stage>[1-4])\.(?:forward_block\.)?(?P<k>\d+)\.")


def _deepgaitv2_name(match: re.Match, names: Sequence[str]) -> str:
    """DeepGaitV2 keeps OpenGait's names but two: `forward_block` (SetBlockWrapper) is our
    `FrameWise`'s `module`, `downsample` our `shortcut`."""
    return "backbone." + match[0].replace("forward_block", "module").replace(
        "downsample", "shortcut"
    )


def _deepgaitv2_overrides(state: Mapping[str, Tensor]) -> str:
    if any(".shortcut3d." in name for name in state):
        mode = "p3d"
    else:
        mode = "2d" if "layer2.forward_block.0.conv1.weight" in state else "3d"
    blocks = {(int(m["stage"]), int(m["k"])) for m in map(_DGV2_BLOCK.match, state) if m}
    layers = [len({k for s, k in blocks if s == stage}) for stage in range(1, 5)]
    channels = [state["layer0.forward_block.0.weight"].shape[0]]
    for stage in (2, 3, 4):
        conv1 = [n for n in state if n.startswith(f"layer{stage}.") and ".conv1." in n]
        channels.append(next(state[n].shape[0] for n in conv1 if state[n].dim() >= 4))
    parts, _, embed_dim = state["FCs.fc_bin"].shape
    return (
        f"experiment=deepgaitv2 backbone.mode={mode} backbone.layers={_listing(layers)} "
        f"backbone.channels={_listing(channels)} head.embed_dim={embed_dim} head.bins=[{parts}]"
    )


def _listing(values: Sequence[int]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


@dataclass(frozen=True)
class OpenGaitModel:
    """How one OpenGait model maps onto a gaitwave backbone + head.

    Attributes:
        name: OpenGait's model name (`model_cfg.model`).
        backbone: the class name of our backbone that rebuilds it.
        marker: an OpenGait parameter name only this model has (identifies checkpoints).
        rules: the name mapping, tried in order.
        overrides: the gaitwave overrides that build a model matching a checkpoint's shapes.
        keep_initial: prefixes of our names OpenGait has no tensor for (left at their init).
        bn_eval_keys: OpenGait keys whose presence means OpenGait evaluates the BatchNorm output
            (our `bn_embeddings`) rather than the part-FC output (our `embeddings`).
        caveats: `(OpenGait key, note)`: notes shown when the key is present ("" for always).
    """

    name: str
    backbone: str
    marker: str
    rules: tuple[Rule, ...]
    overrides: Callable[[Mapping[str, Tensor]], str]
    keep_initial: tuple[str, ...] = ()
    bn_eval_keys: tuple[str, ...] = ()
    caveats: tuple[tuple[str, str], ...] = ()


GAITSET = OpenGaitModel(
    name="GaitSet",
    backbone="GaitSet",
    marker="set_block1.forward_block.0.conv.weight",
    rules=(
        Rule(
            r"set_block(\d)\.forward_block\.(\d)\.conv\.weight",
            r"backbone.block\1.module.\2.weight",
        ),
        Rule(r"gl_block(\d)\.(\d)\.conv\.weight", r"backbone.global_block\1.\2.weight"),
        Rule(r"Head\.fc_bin", "head.part_fc.weight", _gaitset_parts),
    ),
    overrides=_gaitset_overrides,
    keep_initial=("head.bnneck.",),
    caveats=(
        (
            "",
            "OpenGait's GaitSet has no BNNeck or classifier: ours keeps its initial values "
            "(1 class); `embeddings` are OpenGait's, `bn_embeddings` and `logits` are untrained. "
            "Part order differs from OpenGait's (the same parts, so the same distances).",
        ),
    ),
)

GAITGL = OpenGaitModel(
    name="GaitGL",
    backbone="GaitGL",
    marker="LTA.0.conv3d.weight",
    rules=(
        Rule(r"conv3d\.(?P<index>\d+)\.conv3d\.weight", _gaitgl_stem),
        Rule(r"LTA\.0\.conv3d\.weight", "backbone.lta.weight"),
        Rule(_GAITGL_BLOCK.pattern, _gaitgl_block),
        Rule(r"HPP\.p", "head.pooling.p"),
        Rule(r"Head0\.fc_bin", "head.part_fc.weight"),
        Rule(r"Bn\.(\w+)", r"head.bnneck.bn.\1", _channel_bn_over_parts),
        Rule(r"Head1\.fc_bin", "head.bnneck.class_weight"),
        *_BNNECK_RULES,
    ),
    overrides=_gaitgl_overrides,
    bn_eval_keys=("Bn.weight",),
    caveats=(
        (
            "Head1.fc_bin",
            "OpenGait's original GaitGL head: its BatchNorm1d(C) is shared by the parts (ours "
            "has per-part statistics: equal in eval mode, copied to every part) and its "
            "classifier is a plain linear map, ours a cosine one: `logits` differ from "
            "OpenGait's, the evaluated `bn_embeddings` are equal.",
        ),
    ),
)

GAITBASE = OpenGaitModel(
    name="Baseline",
    backbone="GaitBase",
    marker="Backbone.forward_block.conv1.conv.weight",
    rules=(
        Rule(r"Backbone\.forward_block\.conv1\.conv\.weight", "backbone.trunk.module.0.weight"),
        Rule(r"Backbone\.forward_block\.bn1\.(\w+)", r"backbone.trunk.module.1.\1"),
        Rule(_RESNET_BLOCK.pattern, _gaitbase_block),
        Rule(r"FCs\.fc_bin", "head.part_fc.weight"),
        *_BNNECK_RULES,
    ),
    overrides=_gaitbase_overrides,
)

GAITPART = OpenGaitModel(
    name="GaitPart",
    backbone="GaitPart",
    marker="TFA.pooling_func.conv1d3x1.0.0.conv.weight",
    rules=(
        Rule(_PLAIN_CONV.pattern, r"backbone.feature.module.\1.conv.weight"),
        # one temporal conv per part in OpenGait, stacked along a first (part) axis here
        Rule(
            r"TFA\.pooling_func\.(conv1d3x[13])\.(\d+)\.(\d)\.conv\.weight",
            r"head.tfa.\1.\3.weight[\2]",
        ),
        Rule(r"Head\.fc_bin", "head.part_fc.weight"),
    ),
    overrides=_gaitpart_overrides,
    keep_initial=("head.bnneck.",),
    caveats=(
        (
            "",
            "OpenGait's GaitPart has no BNNeck or classifier: ours keeps its initial values "
            "(1 class); `embeddings` are OpenGait's, `bn_embeddings` and `logits` are untrained. "
            "A focal conv's halving is not stored in the checkpoint: `backbone.layers` must be "
            "the layers_cfg it was trained with.",
        ),
    ),
)

DEEPGAITV2 = OpenGaitModel(
    name="DeepGaitV2",
    backbone="DeepGaitV2",
    marker="layer0.forward_block.0.weight",
    rules=(
        Rule(r"layer[0-4]\..+", _deepgaitv2_name),
        Rule(r"FCs\.fc_bin", "head.part_fc.weight"),
        *_BNNECK_RULES,
    ),
    overrides=_deepgaitv2_overrides,
    caveats=(
        (
            "",
            "OpenGait's `use_emb2: true` evaluates the BNNeck features L2-normalised per part, "
            "with Euclidean distance; ours are not normalised, so no setting ranks exactly as "
            "it does: `eval.feature=bn_embeddings eval.metric=cos` (the mean per-part cosine) "
            "comes closest.",
        ),
    ),
)

#: Supported OpenGait models, by the name of our backbone class that rebuilds each.
OPENGAIT_MODELS: dict[str, OpenGaitModel] = {
    spec.backbone: spec for spec in (GAITSET, GAITGL, GAITBASE, GAITPART, DEEPGAITV2)
}

#: OpenGait classifier weights `[P, C, K]`: K is the number of training classes.
_CLASSIFIER_KEYS = ("BNNecks.fc_bin", "Head1.fc_bin")


def opengait_state_dict(checkpoint: Mapping[str, object]) -> dict[str, Tensor]:
    """The model state dict of an OpenGait checkpoint (`{'model': ..., 'optimizer': ...}` or a
    bare state dict), without the `module.` prefix that DDP-wrapped models add."""
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise OpenGaitImportError(
            "not an OpenGait checkpoint: expected {'model': state_dict, ...} or a state dict of "
            f"tensors, got keys {sorted(checkpoint)[:8]}"
        )
    return {name.removeprefix("module."): tensor for name, tensor in state.items()}


def identify(state: Mapping[str, Tensor]) -> OpenGaitModel | None:
    """The supported OpenGait model a state dict comes from, or None."""
    return next((spec for spec in OPENGAIT_MODELS.values() if spec.marker in state), None)


def suggested_overrides(state: Mapping[str, Tensor]) -> str:
    """The gaitwave overrides that build a model matching the checkpoint's names and shapes."""
    spec = identify(state)
    if spec is None:
        return "(none: not a supported OpenGait model)"
    try:
        return spec.overrides(state)
    except KeyError as error:
        return f"(unknown: the {spec.name} checkpoint lacks {error})"


def num_classes(state: Mapping[str, Tensor]) -> int:
    """Training classes of the checkpoint's classifier; 1 when it has none (GaitSet)."""
    key = next((k for k in _CLASSIFIER_KEYS if k in state), None)
    return 1 if key is None else state[key].shape[-1]


def eval_feature(state: Mapping[str, Tensor]) -> str:
    """The output of our model that equals OpenGait's inference embedding."""
    spec = identify(state)
    bn = spec is not None and any(key in state for key in spec.bn_eval_keys)
    return "bn_embeddings" if bn else "embeddings"


def caveats(state: Mapping[str, Tensor]) -> list[str]:
    """Where the imported model differs from OpenGait's, for this checkpoint."""
    spec = identify(state)
    return [] if spec is None else [note for key, note in spec.caveats if not key or key in state]


def spec_for(model: GaitModel) -> OpenGaitModel:
    """The mapping for a model's backbone; a clear error for unsupported backbones."""
    backbone = type(model.backbone).__name__
    if backbone not in OPENGAIT_MODELS:
        raise OpenGaitImportError(
            f"no OpenGait mapping for backbone {backbone}; supported: {', '.join(OPENGAIT_MODELS)}"
        )
    return OPENGAIT_MODELS[backbone]


def _split_slice(target: str | None) -> tuple[str | None, int | None]:
    """`"name[k]"` (slice k along the first axis of a stacked tensor) -> `("name", k)`."""
    stacked = re.fullmatch(r"(.+)\[(\d+)\]", target or "")
    return (stacked[1], int(stacked[2])) if stacked else (target, None)


def _listed(keys: Sequence[str], shown: int = 8) -> str:
    """One key per line, the first `shown` of them."""
    lines = [f"\n    {key}" for key in keys[:shown]]
    if len(keys) > shown:
        lines.append(f"\n    ... and {len(keys) - shown} more")
    return "".join(lines)


def _check_model(state: Mapping[str, Tensor], spec: OpenGaitModel) -> None:
    """Raise `OpenGaitImportError` (with the overrides to use) unless the checkpoint comes from
    the OpenGait model `spec` describes."""
    found = identify(state)
    if found is not spec:
        what = f"an OpenGait {found.name}" if found else "not a supported OpenGait"
        raise OpenGaitImportError(
            f"the checkpoint is {what} model but the config builds {spec.backbone} (OpenGait "
            f"{spec.name}, which has {spec.marker!r}); use the overrides: "
            f"{suggested_overrides(state)}"
        )


@dataclass
class _Placement:
    """Where an OpenGait state dict's tensors went, and those that found no place.

    Attributes:
        mapped: our name -> tensor, converted to our dtype.
        slices: our stacked name -> {index along its first axis: tensor}.
        unexpected: OpenGait names with no place in the model (with the reason).
        wrong_shape: `"name [shape] -> our name [shape]"` for the tensors whose shapes differ.
        misshaped: our names a wrongly shaped tensor was meant for.
    """

    mapped: dict[str, Tensor] = field(default_factory=dict)
    slices: dict[str, dict[int, Tensor]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    wrong_shape: list[str] = field(default_factory=list)
    misshaped: set[str] = field(default_factory=set)


def _place_tensors(
    state: Mapping[str, Tensor],
    model: GaitModel,
    spec: OpenGaitModel,
    ours: Mapping[str, Tensor],
) -> _Placement:
    """Send each OpenGait tensor through the first of `spec.rules` whose source matches its name
    to its place in our state dict `ours` (a whole tensor, or one slice of a stacked one)."""
    names = list(state)
    placed = _Placement()
    for name, tensor in state.items():
        rule, match = next(
            ((r, m) for r in spec.rules if (m := re.fullmatch(r.source, name))), (None, None)
        )
        target = rule.target_name(match, names) if rule else None
        key, index = _split_slice(target)
        filled = key in placed.mapped or index in placed.slices.get(key, {})
        if key not in ours or filled or (index is not None and index >= len(ours[key])):
            reason = "already filled" if filled else "not in the model"
            placed.unexpected.append(name + (f" (-> {target}, {reason})" if target else ""))
            continue
        value = rule.convert(tensor, model)
        expected = ours[key].shape if index is None else ours[key].shape[1:]
        if value.shape != expected:
            converted = "" if value.shape == tensor.shape else f" (as {list(value.shape)})"
            placed.wrong_shape.append(
                f"{name} {list(tensor.shape)}{converted} -> {target} {list(expected)}"
            )
            placed.misshaped.add(key)
        elif index is None:
            placed.mapped[key] = value.to(ours[key].dtype)
        else:
            placed.slices.setdefault(key, {})[index] = value.to(ours[key].dtype)
    return placed


def _stack_slices(placed: _Placement, ours: Mapping[str, Tensor]) -> list[str]:
    """Stack each complete, well-shaped set of slices into `placed.mapped`; returns the absent
    slices as `"name[k]"`."""
    absent_slices = []
    for key, parts in placed.slices.items():
        absent = [f"{key}[{i}]" for i in range(len(ours[key])) if i not in parts]
        if key not in placed.misshaped and not absent:
            placed.mapped[key] = torch.stack([parts[i] for i in range(len(ours[key]))])
        absent_slices += absent
    return absent_slices


def _unfit_error(
    spec: OpenGaitModel,
    state: Mapping[str, Tensor],
    wrong_shape: list[str],
    missing: list[str],
    unexpected: list[str],
) -> OpenGaitImportError:
    """The error listing the wrongly shaped, missing and unexpected keys, with the overrides that
    build a model matching the checkpoint."""
    problems = [
        f"{title} ({len(keys)}):" + _listed(keys)
        for title, keys in (
            ("wrongly shaped", wrong_shape),
            ("missing in the checkpoint", missing),
            ("unexpected in the checkpoint", unexpected),
        )
        if keys
    ]
    return OpenGaitImportError(
        f"the OpenGait {spec.name} checkpoint does not fit the configured model:\n"
        + "\n".join(problems)
        + f"\nThe checkpoint's shapes need the overrides: {suggested_overrides(state)}"
    )


def convert_state_dict(state: Mapping[str, Tensor], model: GaitModel) -> dict[str, Tensor]:
    """Our `model.state_dict()` filled from an OpenGait state dict (names without `module.`).

    Raises `OpenGaitImportError` listing the OpenGait keys with no place in the model
    (unexpected), our keys no OpenGait key fills (missing) and the keys whose shapes differ,
    with the overrides that build a model matching the checkpoint.
    """
    spec = spec_for(model)
    _check_model(state, spec)
    ours = model.state_dict()
    placed = _place_tensors(state, model, spec, ours)
    missing = _stack_slices(placed, ours)
    mapped = placed.mapped
    for name in ours:
        if name not in mapped and name.startswith(spec.keep_initial):
            mapped[name] = ours[name]
    missing += [
        k for k in ours if k not in mapped and k not in placed.misshaped and k not in placed.slices
    ]
    if placed.unexpected or missing or placed.wrong_shape:
        raise _unfit_error(spec, state, placed.wrong_shape, missing, placed.unexpected)
    return mapped

"""Importing OpenGait checkpoints: where every tensor lands, equal outputs against independent
functional forwards of OpenGait's models, the command line end to end, and the errors.

No OpenGait file is used: the names and shapes below are our own description of OpenGait's
module trees (GaitSet, GaitGL, Baseline with ResNet9), filled with random tensors.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from gaitwave.build import build_module
from gaitwave.eval import evaluate_checkpoint, load_checkpoint
from gaitwave.import_opengait import compose_train_config, import_checkpoint, main
from gaitwave.models.opengait import (
    OpenGaitImportError,
    convert_state_dict,
    num_classes,
    suggested_overrides,
)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
GAITSET_LEVELS = (16, 8, 4, 2, 1)  # OpenGait's bin_num for GaitSet
GEM_BINS = 64  # GaitGL's GeMHPP bins
PARTS = 16  # Baseline's bin_num


# ---- OpenGait's names and shapes (our description) -------------------------------------------


def batchnorm(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{k}": () if k == "num_batches_tracked" else (channels,) for k in BN}


def gaitset_shapes(c1: int = 4, c2: int = 8, c3: int = 8, embed: int = 16) -> dict:
    """OpenGait GaitSet: SetBlockWrapper(Sequential(BasicConv2d, LeakyReLU, BasicConv2d, LeakyReLU
    [, MaxPool2d])) per block, deep copies of blocks 2 and 3 for the global branch, SeparateFCs
    `Head` over 2 x 31 parts."""
    shapes = {}
    for block, (c_in, c_out, k) in enumerate([(1, c1, 5), (c1, c2, 3), (c2, c3, 3)], start=1):
        layers = {"0": (c_out, c_in, k, k), "2": (c_out, c_out, 3, 3)}
        for index, shape in layers.items():
            shapes[f"set_block{block}.forward_block.{index}.conv.weight"] = shape
            if block > 1:
                shapes[f"gl_block{block}.{index}.conv.weight"] = shape
    shapes["Head.fc_bin"] = (2 * sum(GAITSET_LEVELS), c3, embed)
    return shapes


def gaitgl_shapes(channels=(4, 8, 16), classes=5, oumvlp=False, bnnecks=False) -> dict:
    """OpenGait GaitGL. CASIA-B: `channels` [c0, c1, c2], one GLConv per stage, GLConvB2 keeps
    c2. OU-MVLP / GREW: [c0, c1, c2, c3], two stem convs and two GLConvs per stage (Sequential).
    Head: SeparateFCs Head0 (64 parts, C -> C), then BatchNorm1d(C) `Bn` + SeparateFCs `Head1`
    (the original head) or SeparateBNNecks `BNNecks`."""
    c = list(channels) if oumvlp else [*channels, channels[-1]]
    shapes = {"conv3d.0.conv3d.weight": (c[0], 1, 3, 3, 3)}
    if oumvlp:
        shapes["conv3d.2.conv3d.weight"] = (c[0], c[0], 3, 3, 3)
    shapes["LTA.0.conv3d.weight"] = (c[0], c[0], 3, 1, 1)
    for stage, c_in, c_out in zip(("A0", "A1", "B2"), c[:3], c[1:], strict=True):
        convs = [(f"GLConv{stage}.", c_in)]
        if oumvlp:
            convs = [(f"GLConv{stage}.0.", c_in), (f"GLConv{stage}.1.", c_out)]
        for prefix, conv_in in convs:
            for branch in ("global", "local"):
                shapes[f"{prefix}{branch}_conv3d.conv3d.weight"] = (c_out, conv_in, 3, 3, 3)
    shapes["HPP.p"] = (1,)
    shapes["Head0.fc_bin"] = (GEM_BINS, c[-1], c[-1])
    if bnnecks:
        shapes |= batchnorm("BNNecks.bn1d", c[-1] * GEM_BINS)
        shapes["BNNecks.fc_bin"] = (GEM_BINS, c[-1], classes)
    else:
        shapes |= batchnorm("Bn", c[-1])
        shapes["Head1.fc_bin"] = (GEM_BINS, c[-1], classes)
    return shapes


def baseline_shapes(
    channels=(4, 8, 8, 16), layers=(1, 2, 1, 1), strides=(1, 2, 2, 1), embed=16, classes=5
) -> dict:
    """OpenGait Baseline (GaitBase): SetBlockWrapper(ResNet9) as `Backbone.forward_block`
    (BasicConv2d `conv1`, `bn1`, torchvision BasicBlocks in `layer1..4` with a `downsample`
    conv1x1 + BN where the stride or the width changes), SeparateFCs `FCs`, SeparateBNNecks."""
    p = "Backbone.forward_block."
    shapes = {f"{p}conv1.conv.weight": (channels[0], 1, 3, 3)} | batchnorm(f"{p}bn1", channels[0])
    c_in = channels[0]
    for stage, (c, count, stride) in enumerate(zip(channels, layers, strides, strict=True), 1):
        for k in range(count):
            b = f"{p}layer{stage}.{k}."
            shapes[f"{b}conv1.weight"] = (c, c_in, 3, 3)
            shapes |= batchnorm(f"{b}bn1", c)
            shapes[f"{b}conv2.weight"] = (c, c, 3, 3)
            shapes |= batchnorm(f"{b}bn2", c)
            if k == 0 and (stride != 1 or c_in != c):
                shapes[f"{b}downsample.0.weight"] = (c, c_in, 1, 1)
                shapes |= batchnorm(f"{b}downsample.1", c)
            c_in = c
    shapes["FCs.fc_bin"] = (PARTS, channels[-1], embed)
    shapes |= batchnorm("BNNecks.bn1d", embed * PARTS)
    shapes["BNNecks.fc_bin"] = (PARTS, embed, classes)
    return shapes


GAITPART_LAYERS = ("BC-4", "BC-4", "M", "FC-8-2", "FC-8-2", "M", "FC-8-3", "FC-8-3")


def gaitpart_shapes(layers=GAITPART_LAYERS, embed=16, squeeze=4) -> dict:
    """OpenGait GaitPart: SetBlockWrapper(Plain) as `Backbone.forward_block` (`feature`: conv,
    LeakyReLU, [MaxPool,] ..., each conv a BasicConv2d or FocalConv2d holding `conv`), the
    temporal aggregator `TFA.pooling_func` with two stacks of per-part Conv1d pairs
    (`conv1d3x1.{p}`: kernels 3 and 1; `conv1d3x3.{p}`: 3 and 3), SeparateFCs `Head`."""
    shapes, index, c_in = {}, 0, 1
    for layer in layers:
        if layer == "M":
            index += 1
            continue
        c_out, k = int(layer.split("-")[1]), 5 if index == 0 else 3
        shapes[f"Backbone.forward_block.feature.{index}.conv.weight"] = (c_out, c_in, k, k)
        index, c_in = index + 2, c_out
    hidden = c_in // squeeze
    for part in range(PARTS):
        for branch, last_kernel in (("conv1d3x1", 1), ("conv1d3x3", 3)):
            prefix = f"TFA.pooling_func.{branch}.{part}"
            shapes[f"{prefix}.0.conv.weight"] = (hidden, c_in, 3)
            shapes[f"{prefix}.2.conv.weight"] = (c_in, hidden, last_kernel)
    shapes["Head.fc_bin"] = (PARTS, c_in, embed)
    return shapes


def deepgaitv2_shapes(mode="p3d", channels=(4, 8, 8, 16), layers=(1, 2, 1, 1), classes=5):
    """OpenGait DeepGaitV2: `layer0` SetBlockWrapper(conv3x3, BN, ReLU); `layer1`
    SetBlockWrapper(2D BasicBlocks); `layer2..4`: Sequential of BasicBlockP3D (`conv1`, `conv2`
    each SetBlockWrapper(conv, BN[, ReLU]), `shortcut3d` + `sbn`), of BasicBlock3D (`conv1`,
    `bn1`, `conv2`, `bn2`) or SetBlockWrapper(2D BasicBlocks); `downsample` (1 x 1 [x 1] conv +
    BN) on the first block where the stride or width changes; FCs `[16, c3, c2]`, BNNecks."""
    c0 = channels[0]
    shapes = {"layer0.forward_block.0.weight": (c0, 1, 3, 3)}
    shapes |= batchnorm("layer0.forward_block.1", c0)
    c_in = c0
    for stage, (c, count, stride) in enumerate(zip(channels, layers, (1, 2, 2, 1), strict=True)):
        for k in range(count):
            k_in = c_in if k == 0 else c
            if stage == 0 or mode == "2d":
                b = f"layer{stage + 1}.forward_block.{k}."
                convs = {"conv1.weight": (c, k_in, 3, 3), "conv2.weight": (c, c, 3, 3)}
                norms, down = ["bn1", "bn2"], (c, c_in, 1, 1)
            elif mode == "p3d":
                b = f"layer{stage + 1}.{k}."
                convs = {
                    "conv1.forward_block.0.weight": (c, k_in, 3, 3),
                    "conv2.forward_block.0.weight": (c, c, 3, 3),
                    "shortcut3d.weight": (c, c, 3, 1, 1),
                }
                norms, down = ["conv1.forward_block.1", "conv2.forward_block.1", "sbn"], None
            else:
                b = f"layer{stage + 1}.{k}."
                convs = {"conv1.weight": (c, k_in, 3, 3, 3), "conv2.weight": (c, c, 3, 3, 3)}
                norms, down = ["bn1", "bn2"], None
            shapes |= {b + name: shape for name, shape in convs.items()}
            for norm in norms:
                shapes |= batchnorm(b + norm, c)
            if k == 0 and (stride != 1 or c_in != c):
                shapes[f"{b}downsample.0.weight"] = down or (c, c_in, 1, 1, 1)
                shapes |= batchnorm(f"{b}downsample.1", c)
        c_in = c
    shapes["FCs.fc_bin"] = (PARTS, channels[3], channels[2])
    shapes |= batchnorm("BNNecks.bn1d", channels[2] * PARTS)
    shapes["BNNecks.fc_bin"] = (PARTS, channels[2], classes)
    return shapes


def random_state(shapes: dict, seed: int = 0) -> dict[str, Tensor]:
    """Random tensors of those shapes, scaled so activations stay of order 1."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            value = torch.tensor(1000)
        elif name.endswith("running_var"):
            value = torch.rand(shape, generator=g) + 0.5
        elif name == "HPP.p":
            value = 3.0 + torch.rand(shape, generator=g)
        elif len(shape) == 1:  # BN weight, bias, running mean
            base = 1.0 if name.endswith(".weight") else 0.0
            value = base + 0.2 * torch.randn(shape, generator=g)
        else:
            fan_in = shape[1] if name.endswith("fc_bin") else math.prod(shape[1:])
            value = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        state[name] = value
    return state


# ---- OpenGait's forward passes, written independently with torch.nn.functional --------------


def bn(x: Tensor, state: dict, prefix: str) -> Tensor:
    """Eval-mode BatchNorm with OpenGait's tensors `prefix.{weight,bias,running_*}`."""
    return F.batch_norm(
        x,
        state[f"{prefix}.running_mean"],
        state[f"{prefix}.running_var"],
        state[f"{prefix}.weight"],
        state[f"{prefix}.bias"],
        training=False,
    )


def hpp(x: Tensor, bins) -> Tensor:
    """OpenGait's horizontal pooling pyramid: mean + max per strip, `[n, c, h, w] -> [n, c, p]`."""
    n, c = x.shape[:2]
    return torch.cat([z.mean(-1) + z.amax(-1) for z in (x.view(n, c, b, -1) for b in bins)], -1)


def separate_fc(x: Tensor, weight: Tensor, norm: bool = False) -> Tensor:
    """`x [n, c, p]` times `weight [p, c, d]` part by part -> `[n, d, p]`."""
    return torch.einsum("ncp,pcd->ndp", x, F.normalize(weight, dim=1) if norm else weight)


def bnnecks(x: Tensor, state: dict) -> tuple[Tensor, Tensor]:
    """SeparateBNNecks: BatchNorm1d over the flattened c * p, then a normalised classifier.
    Returns the BN features (before normalisation) and the logits."""
    n, c, p = x.shape
    features = bn(x.reshape(n, c * p), state, "BNNecks.bn1d").view(n, c, p)
    return features, separate_fc(F.normalize(features, dim=1), state["BNNecks.fc_bin"], True)


def opengait_gaitset(state: dict, sils: Tensor) -> Tensor:
    """GaitSet embeddings `[n, d, 62]`: set parts (levels 16..1) then global parts."""
    n, s, h, w = sils.shape

    def block(x: Tensor, prefix: str, pool: bool) -> Tensor:
        first = state[f"{prefix}0.conv.weight"]
        x = F.leaky_relu(F.conv2d(x, first, padding=first.shape[-1] // 2))
        x = F.leaky_relu(F.conv2d(x, state[f"{prefix}2.conv.weight"], padding=1))
        return F.max_pool2d(x, 2) if pool else x

    def set_pool(x: Tensor) -> Tensor:
        return x.view(n, s, *x.shape[1:]).amax(1)

    outs = block(sils.reshape(n * s, 1, h, w), "set_block1.forward_block.", True)
    gl = block(set_pool(outs), "gl_block2.", True)
    outs = block(outs, "set_block2.forward_block.", True)
    gl = block(gl + set_pool(outs), "gl_block3.", False)
    outs = set_pool(block(outs, "set_block3.forward_block.", False))
    gl = gl + outs
    feature = torch.cat([hpp(outs, GAITSET_LEVELS), hpp(gl, GAITSET_LEVELS)], -1)
    return separate_fc(feature, state["Head.fc_bin"])


def opengait_gaitgl(state: dict, sils: Tensor) -> dict[str, Tensor]:
    """GaitGL: `gait` (Head0 output), `bnft` and `embed` (the inference embedding)."""
    oumvlp = "conv3d.2.conv3d.weight" in state
    halving = 1 if oumvlp else 3
    x = F.leaky_relu(F.conv3d(sils.unsqueeze(1), state["conv3d.0.conv3d.weight"], padding=1))
    if oumvlp:
        x = F.leaky_relu(F.conv3d(x, state["conv3d.2.conv3d.weight"], padding=1))
    x = F.leaky_relu(F.conv3d(x, state["LTA.0.conv3d.weight"], stride=(3, 1, 1)))

    def glconv(x: Tensor, prefix: str, concat: bool) -> Tensor:
        g = F.conv3d(x, state[f"{prefix}global_conv3d.conv3d.weight"], padding=1)
        strips = x.split(x.shape[3] // 2**halving, 3)
        local = state[f"{prefix}local_conv3d.conv3d.weight"]
        lc = torch.cat([F.conv3d(z, local, padding=1) for z in strips], 3)
        return F.leaky_relu(torch.cat([g, lc], 3)) if concat else F.leaky_relu(g) + F.leaky_relu(lc)

    for stage in ("A0", "A1", "B2"):
        prefixes = [f"GLConv{stage}.0.", f"GLConv{stage}.1."] if oumvlp else [f"GLConv{stage}."]
        for i, prefix in enumerate(prefixes):
            x = glconv(x, prefix, concat=stage == "B2" and i == len(prefixes) - 1)
        if stage == "A0":
            x = F.max_pool3d(x, (1, 2, 2))
    x = x.amax(2)
    n, c = x.shape[:2]
    p = state["HPP.p"]
    feat = x.view(n, c, GEM_BINS, -1).clamp(min=1e-6).pow(p).mean(-1).pow(1.0 / p)
    gait = separate_fc(feat, state["Head0.fc_bin"])
    if "Bn.weight" in state:  # BatchNorm1d(c) on [n, c, p]: statistics per channel
        bnft = bn(gait, state, "Bn")
        return {"gait": gait, "bnft": bnft, "embed": bnft}
    bnft, _ = bnnecks(gait, state)
    return {"gait": gait, "bnft": bnft, "embed": gait}


def opengait_gaitpart(state: dict, sils: Tensor, layers=GAITPART_LAYERS) -> Tensor:
    """GaitPart embeddings `[n, d, 16]`: Plain backbone per frame, HPP per frame, TFA, FCs."""
    n, s, h, w = sils.shape
    x, index = sils.reshape(n * s, 1, h, w), 0
    for layer in layers:
        if layer == "M":
            x, index = F.max_pool2d(x, 2), index + 1
            continue
        weight = state[f"Backbone.forward_block.feature.{index}.conv.weight"]
        halving = int(layer.split("-")[2]) if layer.startswith("FC") else 0
        strips = x.split(x.shape[2] // 2**halving, 2)
        pad = weight.shape[-1] // 2
        x = F.leaky_relu(torch.cat([F.conv2d(z, weight, padding=pad) for z in strips], 2))
        index += 2
    parts = hpp(x, (PARTS,))  # [n * s, c, p]
    parts = parts.view(n, s, *parts.shape[1:]).permute(0, 2, 1, 3)  # [n, c, s, p]

    def attention(branch: str, part: int, feat: Tensor) -> Tensor:
        first = state[f"TFA.pooling_func.{branch}.{part}.0.conv.weight"]
        second = state[f"TFA.pooling_func.{branch}.{part}.2.conv.weight"]
        hidden = F.leaky_relu(F.conv1d(feat, first, padding=1))
        return torch.sigmoid(F.conv1d(hidden, second, padding=second.shape[-1] // 2))

    pooled = []
    for part in range(PARTS):
        feat = parts[..., part]  # [n, c, s]
        t3 = F.avg_pool1d(feat, 3, 1, 1) + F.max_pool1d(feat, 3, 1, 1)
        t5 = F.avg_pool1d(feat, 5, 1, 2) + F.max_pool1d(feat, 5, 1, 2)
        motion = t3 * attention("conv1d3x1", part, feat) + t5 * attention("conv1d3x3", part, feat)
        pooled.append(motion.amax(-1))
    return separate_fc(torch.stack(pooled, -1), state["Head.fc_bin"])


def basic_block_2d(x: Tensor, state: dict, b: str, stride: int) -> Tensor:
    """torchvision's BasicBlock with OpenGait's tensors under the prefix `b`."""
    out = F.relu(
        bn(F.conv2d(x, state[f"{b}conv1.weight"], stride=stride, padding=1), state, f"{b}bn1")
    )
    out = bn(F.conv2d(out, state[f"{b}conv2.weight"], padding=1), state, f"{b}bn2")
    if f"{b}downsample.0.weight" in state:
        x = bn(
            F.conv2d(x, state[f"{b}downsample.0.weight"], stride=stride), state, f"{b}downsample.1"
        )
    return F.relu(out + x)


def opengait_deepgaitv2_p3d(state: dict, sils: Tensor) -> dict[str, Tensor]:
    """DeepGaitV2 in p3d mode: `embed` (FCs output, the default inference embedding)."""
    n, s, h, w = sils.shape

    def fold(x: Tensor) -> Tensor:  # [n, c, s, h, w] -> [n * s, c, h, w]
        return x.transpose(1, 2).flatten(0, 1)

    def unfold(x: Tensor) -> Tensor:  # [n * s, c, h, w] -> [n, c, s, h, w]
        return x.view(n, s, *x.shape[1:]).transpose(1, 2)

    x = F.conv2d(sils.reshape(n * s, 1, h, w), state["layer0.forward_block.0.weight"], padding=1)
    x = F.relu(bn(x, state, "layer0.forward_block.1"))
    k = 0
    while f"layer1.forward_block.{k}.conv1.weight" in state:
        x, k = basic_block_2d(x, state, f"layer1.forward_block.{k}.", 1), k + 1
    x = unfold(x)
    for stage, stride in ((2, 2), (3, 2), (4, 1)):
        k = 0
        while f"layer{stage}.{k}.shortcut3d.weight" in state:
            b, step = f"layer{stage}.{k}.", stride if k == 0 else 1
            out = F.conv2d(
                fold(x), state[f"{b}conv1.forward_block.0.weight"], stride=step, padding=1
            )
            out = unfold(F.relu(bn(out, state, f"{b}conv1.forward_block.1")))
            temporal = F.conv3d(out, state[f"{b}shortcut3d.weight"], padding=(1, 0, 0))
            out = F.relu(out + bn(temporal, state, f"{b}sbn"))
            out = F.conv2d(fold(out), state[f"{b}conv2.forward_block.0.weight"], padding=1)
            out = unfold(bn(out, state, f"{b}conv2.forward_block.1"))
            if f"{b}downsample.0.weight" in state:
                x = F.conv3d(x, state[f"{b}downsample.0.weight"], stride=(1, step, step))
                x = bn(x, state, f"{b}downsample.1")
            x, k = F.relu(out + x), k + 1
    embed = separate_fc(hpp(x.amax(2), (PARTS,)), state["FCs.fc_bin"])
    bnft, logits = bnnecks(embed, state)
    return {"embed": embed, "bnft": bnft, "logits": logits}


def opengait_baseline(state: dict, sils: Tensor, strides=(1, 2, 2, 1)) -> dict[str, Tensor]:
    """Baseline (GaitBase): `embed` (FCs output, the inference embedding), `bnft`, `logits`."""
    n, s, h, w = sils.shape
    p = "Backbone.forward_block."
    x = sils.reshape(n * s, 1, h, w)
    x = F.relu(bn(F.conv2d(x, state[f"{p}conv1.conv.weight"], padding=1), state, f"{p}bn1"))
    for stage, stride in enumerate(strides, start=1):
        k = 0
        while f"{p}layer{stage}.{k}.conv1.weight" in state:
            x = basic_block_2d(x, state, f"{p}layer{stage}.{k}.", stride if k == 0 else 1)
            k += 1
    x = x.view(n, s, *x.shape[1:]).amax(1)
    embed = separate_fc(hpp(x, (PARTS,)), state["FCs.fc_bin"])
    bnft, logits = bnnecks(embed, state)
    return {"embed": embed, "bnft": bnft, "logits": logits}


# ---- helpers -------------------------------------------------------------------------------


def train_config(*overrides: str):
    """The training config with overrides; the output folder is never written to here."""
    return compose_train_config(["paths.output_dir=unused", *overrides])


def imported_model(state: dict, *overrides: str) -> torch.nn.Module:
    """Our model built from the suggested overrides (plus `overrides`), weights imported."""
    cfg = train_config(*suggested_overrides(state).split(), *overrides)
    model = build_module(cfg, num_classes=num_classes(state)).model
    model.load_state_dict(convert_state_dict(state, model), strict=True)
    return model.eval()


def gaitset_parts_in_our_order(og: Tensor) -> Tensor:
    """OpenGait GaitSet parts (all set levels, then all global levels) in our order: per level,
    the set strips then the global strips."""
    set_parts, global_parts = og.split(sum(GAITSET_LEVELS), dim=-1)
    pieces = []
    for s, g in zip(
        set_parts.split(GAITSET_LEVELS, -1), global_parts.split(GAITSET_LEVELS, -1), strict=True
    ):
        pieces += [s, g]
    return torch.cat(pieces, -1)


GAITGL_VARIANTS = {
    "casiab": {"channels": (4, 8, 16)},
    "oumvlp": {"channels": (4, 8, 8, 16), "oumvlp": True},
    "oumvlp_bnnecks": {"channels": (4, 8, 8, 16), "oumvlp": True, "bnnecks": True},
}


# ---- (1) every tensor lands where expected ---------------------------------------------------


def our_gaitbase_name(name: str) -> str:
    """Our name for a Baseline tensor (layers (1, 2, 1, 1)): trunk = [conv, bn, relu, blocks]."""
    blocks = {"layer1.0": 3, "layer2.0": 4, "layer2.1": 5, "layer3.0": 6, "layer4.0": 7}
    name = name.replace("Backbone.forward_block.conv1.conv.", "backbone.trunk.module.0.")
    name = name.replace("Backbone.forward_block.bn1.", "backbone.trunk.module.1.")
    for og, index in blocks.items():
        name = name.replace(f"Backbone.forward_block.{og}.", f"backbone.trunk.module.{index}.")
    name = name.replace("downsample.", "shortcut.").replace("FCs.fc_bin", "head.part_fc.weight")
    name = name.replace("BNNecks.bn1d.", "head.bnneck.bn.")
    return name.replace("BNNecks.fc_bin", "head.bnneck.class_weight")


def our_gaitgl_name(name: str, oumvlp: bool) -> str:
    stem = {"conv3d.0.conv3d": "backbone.stem.0", "conv3d.2.conv3d": "backbone.stem.1"}
    blocks = (
        {"A0.0": 0, "A0.1": 1, "A1.0": 2, "A1.1": 3, "B2.0": 4, "B2.1": 5}
        if oumvlp
        else {"A0": 0, "A1": 1, "B2": 2}
    )
    for og, ours in stem.items():
        name = name.replace(og, ours)
    for og, index in blocks.items():
        for branch in ("global", "local"):
            og_name = f"GLConv{og}.{branch}_conv3d.conv3d.weight"
            name = name.replace(og_name, f"backbone.blocks.{index}.{branch}_conv.weight")
    plain = {
        "LTA.0.conv3d.weight": "backbone.lta.weight",
        "HPP.p": "head.pooling.p",
        "Head0.fc_bin": "head.part_fc.weight",
        "Head1.fc_bin": "head.bnneck.class_weight",
        "BNNecks.fc_bin": "head.bnneck.class_weight",
    }
    name = plain.get(name, name)
    return re.sub(r"^(Bn|BNNecks\.bn1d)\.", "head.bnneck.bn.", name)


def test_gaitbase_tensors_land_in_place():
    state = random_state(baseline_shapes())
    model = imported_model(state)
    ours = model.state_dict()
    assert len(ours) == len(state)
    for name, tensor in state.items():
        torch.testing.assert_close(ours[our_gaitbase_name(name)], tensor, rtol=0, atol=0)


@pytest.mark.parametrize("variant", GAITGL_VARIANTS)
def test_gaitgl_tensors_land_in_place(variant):
    spec = GAITGL_VARIANTS[variant]
    state = random_state(gaitgl_shapes(**spec))
    ours = imported_model(state).state_dict()
    assert len(ours) == len(state)
    for name, tensor in state.items():
        target = ours[our_gaitgl_name(name, spec.get("oumvlp", False))]
        if name.startswith("Bn.") and tensor.dim() == 1:  # per channel -> per (channel, part)
            tensor = tensor[:, None].expand(-1, GEM_BINS).reshape(-1)
        torch.testing.assert_close(target, tensor, rtol=0, atol=0)


def test_gaitset_tensors_land_in_place_and_the_bnneck_keeps_its_init():
    state = random_state(gaitset_shapes())
    ours = imported_model(state).state_dict()
    for name, tensor in state.items():
        if name == "Head.fc_bin":
            expected = gaitset_parts_in_our_order(tensor.permute(1, 2, 0)).permute(2, 0, 1)
            torch.testing.assert_close(ours["head.part_fc.weight"], expected, rtol=0, atol=0)
            continue
        branch, block, layer = re.fullmatch(
            r"(set|gl)_block(\d)\.(?:forward_block\.)?(\d)\.conv\.weight", name
        ).groups()
        module = f"block{block}.module" if branch == "set" else f"global_block{block}"
        target = f"backbone.{module}.{layer}.weight"
        torch.testing.assert_close(ours[target], tensor, rtol=0, atol=0)
    assert torch.equal(ours["head.bnneck.bn.running_var"], torch.ones(16 * 62))
    assert ours["head.bnneck.class_weight"].shape == (62, 16, 1)


# ---- (2) equal outputs ------------------------------------------------------------------------


def test_gaitbase_outputs_equal_opengait():
    state = random_state(baseline_shapes(), seed=1)
    sils = (torch.rand(2, 5, 64, 44, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    expected = opengait_baseline(state, sils)
    with torch.no_grad():
        outputs = imported_model(state)(sils)
    torch.testing.assert_close(outputs["embeddings"], expected["embed"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs["bn_embeddings"], expected["bnft"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs["logits"], expected["logits"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", GAITGL_VARIANTS)
def test_gaitgl_outputs_equal_opengait(variant):
    state = random_state(gaitgl_shapes(**GAITGL_VARIANTS[variant]), seed=3)
    sils = (torch.rand(2, 9, 64, 44, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    expected = opengait_gaitgl(state, sils)
    with torch.no_grad():
        outputs = imported_model(state)(sils)
    torch.testing.assert_close(outputs["embeddings"], expected["gait"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs["bn_embeddings"], expected["bnft"], rtol=1e-5, atol=1e-5)


def test_gaitset_outputs_equal_opengait_up_to_the_part_order():
    state = random_state(gaitset_shapes(), seed=5)
    sils = (torch.rand(2, 5, 64, 44, generator=torch.Generator().manual_seed(6)) > 0.5).float()
    expected = gaitset_parts_in_our_order(opengait_gaitset(state, sils))
    with torch.no_grad():
        outputs = imported_model(state)(sils)
    torch.testing.assert_close(outputs["embeddings"], expected, rtol=1e-5, atol=1e-5)


def test_gaitpart_outputs_equal_opengait_and_per_part_convs_are_stacked():
    state = random_state(gaitpart_shapes(), seed=10)
    model = imported_model(state)
    ours = model.state_dict()
    for part in (0, 7, PARTS - 1):
        for branch in ("conv1d3x1", "conv1d3x3"):
            for j in (0, 2):
                expected = state[f"TFA.pooling_func.{branch}.{part}.{j}.conv.weight"]
                assert torch.equal(ours[f"head.tfa.{branch}.{j}.weight"][part], expected)
    sils = (torch.rand(2, 7, 64, 44, generator=torch.Generator().manual_seed(11)) > 0.5).float()
    with torch.no_grad():
        outputs = model(sils)
    expected = opengait_gaitpart(state, sils)
    torch.testing.assert_close(outputs["embeddings"], expected, rtol=1e-5, atol=1e-5)


def test_gaitpart_suggestion_takes_the_halvings_of_opengaits_configs():
    casiab = suggested_overrides(random_state(gaitpart_shapes()))
    assert "backbone.layers=[BC-4,BC-4,M,FC-8-2,FC-8-2,M,FC-8-3,FC-8-3]" in casiab
    oumvlp_layers = (
        ("BC-32", "BC-32", "M", "BC-64", "BC-64", "M") + ("FC-128-3",) * 2 + ("FC-256-3",) * 2
    )
    oumvlp = suggested_overrides(random_state(gaitpart_shapes(oumvlp_layers, embed=256)))
    assert f"backbone.layers=[{','.join(oumvlp_layers)}] head.embed_dim=256" in oumvlp
    custom = suggested_overrides(random_state(gaitpart_shapes(("BC-4", "M", "FC-8-1"))))
    assert "backbone.layers=[BC-4,M,BC-8]" in custom


def test_a_missing_part_of_a_stacked_conv_is_named():
    state = random_state(gaitpart_shapes())
    state.pop("TFA.pooling_func.conv1d3x3.5.2.conv.weight")
    model = build_module(
        train_config(*suggested_overrides(random_state(gaitpart_shapes())).split()), 5
    ).model
    with pytest.raises(OpenGaitImportError, match=r"\n    head\.tfa\.conv1d3x3\.2\.weight\[5\]"):
        convert_state_dict(state, model)


@pytest.mark.parametrize("mode", ["2d", "p3d", "3d"])
def test_deepgaitv2_tensors_land_in_place(mode):
    state = random_state(deepgaitv2_shapes(mode), seed=12)
    ours = imported_model(state).state_dict()
    assert len(ours) == len(state)
    for name, tensor in state.items():
        target = name.replace("forward_block", "module").replace("downsample", "shortcut")
        if not name.startswith(("FCs", "BNNecks")):
            target = f"backbone.{target}"
        target = target.replace("FCs.fc_bin", "head.part_fc.weight")
        target = target.replace("BNNecks.fc_bin", "head.bnneck.class_weight")
        target = target.replace("BNNecks.bn1d.", "head.bnneck.bn.")
        torch.testing.assert_close(ours[target], tensor, rtol=0, atol=0)


def test_deepgaitv2_p3d_outputs_equal_opengait():
    state = random_state(deepgaitv2_shapes("p3d"), seed=13)
    sils = (torch.rand(2, 5, 64, 44, generator=torch.Generator().manual_seed(14)) > 0.5).float()
    expected = opengait_deepgaitv2_p3d(state, sils)
    with torch.no_grad():
        outputs = imported_model(state)(sils)
    for ours, theirs in (("embeddings", "embed"), ("bn_embeddings", "bnft"), ("logits", "logits")):
        torch.testing.assert_close(outputs[ours], expected[theirs], rtol=1e-5, atol=1e-5)


# ---- (3) the command line end to end ----------------------------------------------------------


def save_opengait_checkpoint(path: Path, state: dict) -> None:
    """As OpenGait saves it, from a DDP-wrapped model (`module.` prefixes)."""
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[10, 20])
    checkpoint = {
        "model": {f"module.{k}": v for k, v in state.items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "iteration": 80000,
    }
    torch.save(checkpoint, path)


CLI_CASES = {
    "gaitgl": (
        gaitgl_shapes,
        opengait_gaitgl,
        9,
        ["experiment=gaitgl", "backbone.channels=[4,8,16,16]", "head.embed_dim=16"],
        "bn_embeddings",
    ),
    "gaitbase": (
        baseline_shapes,
        opengait_baseline,
        5,
        [
            "backbone=gaitbase",
            "backbone.channels=[4,8,8,16]",
            "backbone.layers=[1,2,1,1]",
            "head.embed_dim=16",
        ],
        "embeddings",
    ),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_command_line_writes_a_checkpoint_gaitwave_eval_rebuilds(tmp_path, capsys, case):
    shapes, forward, frames, overrides, feature = CLI_CASES[case]
    state = random_state(shapes(), seed=7)
    source, target = tmp_path / "opengait.pt", tmp_path / "out" / "imported.ckpt"
    save_opengait_checkpoint(source, state)

    main([str(source), str(target), *overrides])
    printed = capsys.readouterr().out
    assert "iteration 80000" in printed and f"gaitwave-eval ckpt={target}" in printed

    train_cfg, classes, state_dict = load_checkpoint(target)  # gaitwave-eval's loading
    assert classes == 5 and train_cfg.eval.feature == feature
    module = build_module(train_cfg, num_classes=classes)
    module.load_state_dict(state_dict)
    sils = torch.rand(2, frames, 64, 44, generator=torch.Generator().manual_seed(8)) > 0.5
    with torch.no_grad():
        ours = module.eval()(sils.float())[module.eval_feature]
    torch.testing.assert_close(ours, forward(state, sils.float())["embed"], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_gaitwave_eval_runs_on_an_imported_checkpoint(tmp_path, compose_config):
    """`gaitwave-eval ckpt=out.ckpt` on the `ci` SynthGait preset (32 x 22 frames)."""
    state = random_state(baseline_shapes(), seed=9)
    source, target = tmp_path / "opengait.pt", tmp_path / "imported.ckpt"
    save_opengait_checkpoint(source, state)
    overrides = CLI_CASES["gaitbase"][3]
    data = [f"paths.data_dir={tmp_path / 'data'}", "data.synthgait.preset=ci"]
    import_checkpoint(source, target, [*overrides, *data, "data.datamodule.num_workers=0"])
    cfg = compose_config(
        "eval",
        f"ckpt={target}",
        f"paths.output_dir={tmp_path / 'eval'}",
        "trainer.enable_progress_bar=false",
    )
    metrics = evaluate_checkpoint(cfg)
    assert 0.0 <= metrics["mean/rank1"] <= 100.0


# ---- (4) errors ------------------------------------------------------------------------------


def test_a_checkpoint_of_another_model_names_the_overrides_it_needs(tmp_path):
    source = tmp_path / "gaitgl.pt"
    save_opengait_checkpoint(
        source, random_state(gaitgl_shapes(oumvlp=True, channels=(4, 8, 8, 16)))
    )
    with pytest.raises(OpenGaitImportError) as error:
        import_checkpoint(source, tmp_path / "out.ckpt", ["backbone=gaitbase"])
    message = str(error.value)
    assert "OpenGait GaitGL" in message and "builds GaitBase" in message
    assert "experiment=gaitgl backbone=gaitgl_oumvlp backbone.channels=[4,8,8,16]" in message


def test_missing_unexpected_and_wrongly_shaped_keys_are_named():
    state = random_state(baseline_shapes())
    state.pop("Backbone.forward_block.layer2.1.bn2.running_var")
    state["Backbone.forward_block.layer5.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    state["Backbone.extra.weight"] = torch.zeros(2)
    model = build_module(train_config("backbone.layers=[1,2,1,1]"), num_classes=5).model
    with pytest.raises(OpenGaitImportError) as error:
        convert_state_dict(state, model)
    message = str(error.value)
    # our default widths are [8, 16, 32, 64]: the checkpoint's [4, 8, 8, 16] do not fit
    assert "wrongly shaped" in message
    assert (
        "Backbone.forward_block.conv1.conv.weight [4, 1, 3, 3] -> backbone.trunk.module.0.weight "
        "[8, 1, 3, 3]\n" in message
    )
    assert "missing in the checkpoint (1):\n    backbone.trunk.module.5.bn2.running_var" in message
    assert "Backbone.extra.weight" in message
    assert "Backbone.forward_block.layer5.0.conv1.weight (-> backbone.trunk.module.8" in message
    assert "backbone.channels=[4,8,8,16,3]" in message  # what the checkpoint's shapes say


def test_only_missing_keys_are_listed_when_the_shapes_fit():
    state = random_state(gaitgl_shapes())
    state.pop("GLConvA1.local_conv3d.conv3d.weight")
    model = build_module(
        train_config("experiment=gaitgl", "backbone.channels=[4,8,16,16]", "head.embed_dim=16"),
        num_classes=5,
    ).model
    with pytest.raises(
        OpenGaitImportError,
        match=r"missing in the checkpoint \(1\):\n    backbone\.blocks\.1\.local_conv\.weight\n",
    ) as error:
        convert_state_dict(state, model)
    assert "wrongly shaped" not in str(error.value) and "unexpected" not in str(error.value)


def test_command_line_errors_exit_with_a_message(tmp_path, capsys):
    lightning_like = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"model.x": torch.zeros(1)}, "epoch": 3}, lightning_like)
    with pytest.raises(SystemExit) as exit_info:
        main([str(lightning_like), str(tmp_path / "out.ckpt")])
    assert exit_info.value.code == 1
    assert "not an OpenGait checkpoint" in capsys.readouterr().err

    unknown = tmp_path / "unknown.pt"
    torch.save({"model": {"encoder.weight": torch.zeros(2)}}, unknown)
    with pytest.raises(SystemExit):
        main([str(unknown), str(tmp_path / "out.ckpt")])
    assert "not a supported OpenGait model" in capsys.readouterr().err

    pickled = tmp_path / "pickled.pt"
    torch.save({"model": {}, "engine_cfg": argparse.Namespace(restore_hint=0)}, pickled)
    with pytest.raises(SystemExit):
        main([str(pickled), str(tmp_path / "out.ckpt")])
    assert "weights_only=True" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main([str(tmp_path / "absent.pt"), str(tmp_path / "out.ckpt")])
    assert "absent.pt not found" in capsys.readouterr().err
    assert not (tmp_path / "out.ckpt").exists()

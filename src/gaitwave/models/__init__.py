"""Gait models: backbones, shared layers, heads, and `GaitModel` composing a backbone and a head."""

from __future__ import annotations

import torch
from torch import nn

from gaitwave.models.backbones import DeepGaitV2, GaitBase, GaitGL, GaitPart, GaitSet
from gaitwave.models.heads import (
    BNNeck,
    GaitHead,
    GaitPartHead,
    GeMHorizontalPooling,
    HorizontalPooling,
    PartFC,
    TemporalFeatureAggregator,
    temporal_max,
)
from gaitwave.models.layers import (
    BasicBlock2d,
    BasicBlock3D,
    BasicBlockP3D,
    FocalConv2d,
    FrameWise,
    GLConv,
    PartConv1d,
)


class GaitModel(nn.Module):
    """A backbone followed by a head: `forward(frames [N, T, H, W], lengths [N] | None) -> dict`.

    The dict is the head's (`embeddings [N, D, P]`, `bn_embeddings [N, D, P]`,
    `logits [N, K, P]`); `lengths` (valid frames per sequence) are mapped through
    `backbone.out_lengths` before the head's temporal pooling.
    """

    def __init__(self, backbone: nn.Module, head: GaitHead) -> None:
        super().__init__()
        if backbone.out_channels != head.in_channels:
            raise ValueError(
                f"GaitModel: the backbone gives {backbone.out_channels} channels but the head "
                f"expects in_channels={head.in_channels}; set the head's in_channels to "
                f"{backbone.out_channels}"
            )
        self.backbone = backbone
        self.head = head

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        feature_maps = self.backbone(frames, lengths)
        if lengths is not None:
            lengths = self.backbone.out_lengths(lengths)
        return self.head(feature_maps, lengths)


__all__ = [
    "BNNeck",
    "BasicBlock2d",
    "BasicBlock3D",
    "BasicBlockP3D",
    "DeepGaitV2",
    "FocalConv2d",
    "FrameWise",
    "GLConv",
    "GaitBase",
    "GaitGL",
    "GaitHead",
    "GaitModel",
    "GaitPart",
    "GaitPartHead",
    "GaitSet",
    "GeMHorizontalPooling",
    "HorizontalPooling",
    "PartConv1d",
    "PartFC",
    "TemporalFeatureAggregator",
    "temporal_max",
]

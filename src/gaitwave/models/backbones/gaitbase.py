"""GaitBase: a frame-wise 2D ResNet-9 (the OpenGait GaitBase / DeepGaitV2-2d trunk)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gaitwave.models.layers import BasicBlock2d, FrameWise, check_frames


class GaitBase(nn.Module):
    """Frame-wise ResNet-9: `frames [N, T, H, W] -> feature maps [N, C, T, H', W']`.

    Stem: 3 x 3 conv (1 -> channels[0]) + BN + ReLU at full resolution, then one stage per entry
    of `channels`, each `layers[i]` BasicBlocks whose first block has stride `strides[i]`.
    With the default strides (1, 2, 2, 1), `H' = ceil(H / 4)` and `W' = ceil(W / 4)`
    (64 x 44 -> 16 x 11, 32 x 22 -> 8 x 6), and `C = channels[-1]`.

    Each frame is processed on its own (BatchNorm aside), so the time axis is kept and
    `out_lengths` is the identity. `channels_last=True` runs the 2D trunk in the channels-last
    memory format, which is faster for 2D convolutions on CPU; the outputs are the same.

    Init: convolutions kaiming-normal (fan_out, ReLU gain), BatchNorm weight 1 and bias 0.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64, 128),
        layers: Sequence[int] = (1, 1, 1, 1),
        strides: Sequence[int] = (1, 2, 2, 1),
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        channels, layers, strides = list(channels), list(layers), list(strides)
        if not channels or len(channels) != len(layers) or len(channels) != len(strides):
            raise ValueError(
                "GaitBase: `channels`, `layers` and `strides` need one entry per stage and the "
                f"same length, got channels={channels}, layers={layers}, strides={strides}"
            )
        if min(channels) < 1 or min(layers) < 1 or min(strides) < 1:
            raise ValueError(
                "GaitBase: every entry of `channels`, `layers` and `strides` must be >= 1, got "
                f"channels={channels}, layers={layers}, strides={strides}"
            )
        modules: list[nn.Module] = [
            nn.Conv2d(1, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        ]
        in_channels = channels[0]
        for out_channels, blocks, stride in zip(channels, layers, strides, strict=True):
            for index in range(blocks):
                block_stride = stride if index == 0 else 1
                modules.append(BasicBlock2d(in_channels, out_channels, block_stride))
                in_channels = out_channels
        self.out_channels = channels[-1]
        self.channels_last = channels_last
        self.trunk = FrameWise(nn.Sequential(*modules), channels_last=channels_last)
        self.reset_parameters()
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def reset_parameters(self) -> None:
        """Kaiming-normal convolutions (fan_out, ReLU); BatchNorm weight 1, bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`frames [N, T, H, W]` in [0, 1] -> feature maps `[N, C, T, H', W']`.

        `lengths` is accepted for the common backbone interface and not needed: frames are
        processed one by one, so padding frames never mix with valid ones.
        """
        check_frames("GaitBase", frames)
        return self.trunk(frames.unsqueeze(1))

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames per sequence after the backbone: the identity (no temporal stride)."""
        return lengths

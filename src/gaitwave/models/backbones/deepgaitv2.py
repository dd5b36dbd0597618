"""DeepGaitV2: a deep residual gait backbone with 2D, pseudo-3D or 3D stages (Fan et al., 2023)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gaitwave.models.layers import (
    BasicBlock2d,
    BasicBlock3D,
    BasicBlockP3D,
    FrameWise,
    check_frames,
    conv3x3,
    xavier_init,
)

MODES = ("2d", "p3d", "3d")


def _check_arguments(mode: str, layers: list[int], channels: list[int], strides: list[int]) -> None:
    """Raise `ValueError` naming the fix unless `mode` is one of `MODES` and `layers`, `channels`
    and `strides` have 4 entries (one per stage) each, all >= 1."""
    if mode not in MODES:
        raise ValueError(f"DeepGaitV2: `mode` must be one of {MODES}, got {mode!r}")
    if not len(layers) == len(channels) == len(strides) == 4:
        raise ValueError(
            "DeepGaitV2: `layers`, `channels` and `strides` need 4 entries each (one per "
            f"stage), got layers={layers}, channels={channels}, strides={strides}; the "
            "reference is layers=[1, 1, 1, 1], channels=[64, 128, 256, 512], "
            "strides=[1, 2, 2, 1]"
        )
    if min(layers + channels + strides) < 1:
        raise ValueError(
            "DeepGaitV2: every entry of `layers`, `channels` and `strides` must be >= 1, got "
            f"layers={layers}, channels={channels}, strides={strides}"
        )


class DeepGaitV2(nn.Module):
    """DeepGaitV2 trunk: `frames [N, T, H, W] -> feature maps [N, C, T, H', W']`.

    - `layer0`: frame-wise 3 x 3 conv (1 -> channels[0]) + BN + ReLU at full resolution;
    - `layer1`: `layers[0]` frame-wise 2D BasicBlocks (`BasicBlock2d`) at channels[0], stride
      `strides[0]`;
    - `layer2`..`layer4`: `layers[1..3]` blocks to channels[1..3], the first of each stage with
      stride `strides[i]`: `BasicBlockP3D` (`mode="p3d"`, OpenGait's default), `BasicBlock3D`
      (`"3d"`) or frame-wise `BasicBlock2d` (`"2d"`, the GaitBase trunk).

    With the default strides (1, 2, 2, 1), `H' = ceil(H / 4)`, `W' = ceil(W / 4)` (64 x 44 ->
    16 x 11) and `C = channels[-1]`. No temporal stride: `out_lengths` is the identity. The
    P3D / 3D blocks take `lengths` and zero the padding frames before each conv that mixes
    frames, so a zero-padded batch equals one sequence at a time (eval mode). Reference sizes
    (docs/PROTOCOLS.md): p3d, layers (1, 1, 1, 1), channels (64, 128, 256, 512) -> 5.93M parameters;
    layers (1, 4, 4, 1) -> 11.10M.

    `channels_last=True` runs the frame-wise 2D convs in the channels-last memory format
    (faster on CPU); the 3D convs keep the default layout. Init (OpenGait's): convolutions
    xavier-uniform, BatchNorm weight 1 and bias 0.

    OpenGait parameter names map onto these by two renames, `forward_block` -> `module` (our
    `FrameWise` is OpenGait's `SetBlockWrapper`) and `downsample` -> `shortcut` (the residual
    projection); everything else is the same name with the same shape:
    `layer0.forward_block.{0,1}` -> `layer0.module.{0,1}`,
    `layer1.forward_block.0.conv1` -> `layer1.module.0.conv1`, and in p3d mode
    `layer2.0.conv1.forward_block.0` -> `layer2.0.conv1.module.0`, `layer2.0.shortcut3d`,
    `layer2.0.sbn` (unchanged), `layer2.0.downsample.{0,1}` -> `layer2.0.shortcut.{0,1}`
    (a 1 x 1 x 1 Conv3d + BatchNorm3d); in 3d mode `layer2.0.{conv1,bn1,conv2,bn2}`
    (unchanged); in 2d mode `layer2.forward_block.0.downsample` -> `layer2.module.0.shortcut`.
    The head's `FCs.fc_bin` and `BNNecks.{bn1d,fc_bin}` belong to `GaitHead`.
    """

    def __init__(
        self,
        mode: str = "p3d",
        layers: Sequence[int] = (1, 1, 1, 1),
        channels: Sequence[int] = (64, 128, 256, 512),
        strides: Sequence[int] = (1, 2, 2, 1),
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        layers, channels, strides = list(layers), list(channels), list(strides)
        _check_arguments(mode, layers, channels, strides)
        self.mode = mode
        self.channels_last = channels_last
        self.out_channels = channels[-1]
        self.layer0 = FrameWise(
            nn.Sequential(
                conv3x3(1, channels[0]), nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True)
            ),
            channels_last=channels_last,
        )
        self.layer1 = FrameWise(
            nn.Sequential(*self._blocks_2d(channels[0], channels[0], layers[0], strides[0])),
            channels_last=channels_last,
        )
        self.layer2, self.layer3, self.layer4 = (
            self._stage(channels[stage - 1], channels[stage], layers[stage], strides[stage])
            for stage in range(1, 4)
        )
        self.reset_parameters()
        if channels_last:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    module.to(memory_format=torch.channels_last)

    def _stage(
        self, in_channels: int, out_channels: int, count: int, stride: int
    ) -> FrameWise | nn.ModuleList:
        """One of `layer2`..`layer4` in `self.mode`: `count` blocks `in_channels -> out_channels`,
        the first with `stride` (spatial). 2d: frame-wise `BasicBlock2d`s in a `FrameWise`;
        p3d / 3d: a `ModuleList` of `BasicBlockP3D` / `BasicBlock3D` (they take `lengths`)."""
        if self.mode == "2d":
            blocks = self._blocks_2d(in_channels, out_channels, count, stride)
            return FrameWise(nn.Sequential(*blocks), channels_last=self.channels_last)
        block_strides = [stride] + [1] * (count - 1)
        block_inputs = [in_channels] + [out_channels] * (count - 1)
        if self.mode == "p3d":
            return nn.ModuleList(
                BasicBlockP3D(c, out_channels, s, channels_last=self.channels_last)
                for c, s in zip(block_inputs, block_strides, strict=True)
            )
        return nn.ModuleList(
            BasicBlock3D(c, out_channels, s)
            for c, s in zip(block_inputs, block_strides, strict=True)
        )

    @staticmethod
    def _blocks_2d(
        in_channels: int, out_channels: int, count: int, stride: int
    ) -> list[BasicBlock2d]:
        return [
            BasicBlock2d(in_channels if index == 0 else out_channels, out_channels, s)
            for index, s in enumerate([stride] + [1] * (count - 1))
        ]

    def reset_parameters(self) -> None:
        """Xavier-uniform convolutions, as OpenGait (`xavier_init`)."""
        xavier_init(self)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`frames [N, T, H, W]` in [0, 1], `lengths [N] | None` -> `[N, C, T, H', W']`."""
        check_frames("DeepGaitV2", frames)
        x = self.layer1(self.layer0(frames.unsqueeze(1)))
        for stage in (self.layer2, self.layer3, self.layer4):
            if isinstance(stage, FrameWise):
                x = stage(x)
            else:
                for block in stage:
                    x = block(x, lengths)
        return x

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames per sequence after the backbone: the identity (no temporal stride)."""
        return lengths

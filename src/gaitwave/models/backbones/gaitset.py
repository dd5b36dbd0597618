"""GaitSet: frame-wise 2D convolutions with set pooling (Chao et al., AAAI 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gaitwave.models.heads import temporal_max
from gaitwave.models.layers import FrameWise, check_frames, xavier_init


def _conv_pair(in_channels: int, out_channels: int, first_kernel: int, pool: bool) -> nn.Sequential:
    """Two bias-free convs (`first_kernel`, then 3 x 3), each with a leaky ReLU, and an optional
    2 x 2 max-pool: `[B, C, H, W] -> [B, C', H, W]` (`H / 2, W / 2` with the pool)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, first_kernel, padding=first_kernel // 2, bias=False),
        nn.LeakyReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.LeakyReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class GaitSet(nn.Module):
    """GaitSet trunk: `frames [N, T, H, W] -> set-pooled maps [N, C, 1, 2 H', W']`.

    Three frame-wise blocks of two convs each (`channels = (c1, c2, c3)`; 5 x 5 then 3 x 3 in
    the first block, 3 x 3 after; 2 x 2 max-pools after the first two blocks), so
    `H' = floor(H / 4)`, `W' = floor(W / 4)` and `C = c3`. The set-level (global) branch
    max-pools the frames over time after blocks 1 and 2, runs its own copies of blocks 2 and 3
    on those maps and adds the set-pooled frame features (the multilayer global pipeline).

    The result has one time step: the set-pooled frame-branch maps on top of the global-branch
    maps, stacked along the height. Horizontal pooling with bins `2 b` on this stack equals
    pooling each map with bins `b` (no strip crosses the seam): GaitSet's pyramid (16, 8, 4, 2,
    1) per branch, 62 parts, is `bins=(32, 16, 8, 4, 2)` (conf/head/gaitset.yaml).

    Set pooling: `forward(frames, lengths)` leaves the padding frames `t >= lengths[n]` out of
    every max over time, so a batch equals one sequence at a time; without `lengths` every frame
    counts (a zero frame gives zero features, which enter the max). `out_lengths` is 1.

    Init: convolutions xavier-uniform (as OpenGait).
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        channels = list(channels)
        if len(channels) != 3 or min(channels) < 1:
            raise ValueError(
                f"GaitSet: `channels` needs 3 positive entries (one per block), got {channels}; "
                "OpenGait's CASIA-B model uses [32, 64, 128]"
            )
        c1, c2, c3 = channels
        self.block1 = FrameWise(_conv_pair(1, c1, 5, pool=True))
        self.block2 = FrameWise(_conv_pair(c1, c2, 3, pool=True))
        self.block3 = FrameWise(_conv_pair(c2, c3, 3, pool=False))
        self.global_block2 = _conv_pair(c1, c2, 3, pool=True)
        self.global_block3 = _conv_pair(c2, c3, 3, pool=False)
        self.out_channels = c3
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform convolutions, as OpenGait (`xavier_init`)."""
        xavier_init(self)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`frames [N, T, H, W]` in [0, 1], `lengths [N] | None` -> `[N, C, 1, 2 H', W']`."""
        check_frames("GaitSet", frames)
        frame_maps = self.block1(frames.unsqueeze(1))
        global_maps = self.global_block2(temporal_max(frame_maps, lengths))
        frame_maps = self.block2(frame_maps)
        global_maps = self.global_block3(global_maps + temporal_max(frame_maps, lengths))
        set_maps = temporal_max(self.block3(frame_maps), lengths)
        global_maps = global_maps + set_maps
        return torch.cat([set_maps, global_maps], dim=2).unsqueeze(2)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid time steps after the set pooling: 1 for every sequence."""
        return torch.ones_like(lengths)

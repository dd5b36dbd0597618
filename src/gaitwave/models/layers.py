"""Blocks shared by backbones: a 2D residual block, a frame-wise wrapper for 2D modules and
GaitGL's global-local 3D convolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3 x 3 convolution with padding 1 and no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class BasicBlock2d(nn.Module):
    """ResNet basic block: two 3 x 3 conv + BN with a residual shortcut, `[B, C, H, W]`.

    The shortcut is a 1 x 1 conv + BN when the stride or the channel count changes, else the
    identity. Output `[B, out_channels, ceil(H / stride), ceil(W / stride)]`.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class FrameWise(nn.Module):
    """Applies a 2D module to every frame: `[N, C, T, H, W] -> [N, C', T, H', W']`.

    The frames are folded into the batch (`[N*T, C, H, W]`), so BatchNorm statistics mix all
    frames of all sequences. With `channels_last=True` the folded frames are passed in the
    channels-last memory format (the wrapped module's weights should be converted too).
    """

    def __init__(self, module: nn.Module, channels_last: bool = False) -> None:
        super().__init__()
        self.module = module
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(
                f"FrameWise expects [N, C, T, H, W] (5 dims), got shape {tuple(x.shape)}"
            )
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        out = self.module(frames)
        return out.reshape(n, t, *out.shape[1:]).transpose(1, 2)


class GLConv(nn.Module):
    """GaitGL global-local 3D convolution: `[N, C, T, H, W] -> [N, C', T, H, W]` (or `2H`).

    A global 3 x 3 x 3 conv (no bias) sees the whole map; a second conv of the same shape runs
    on each of the `2 ** halving` horizontal strips separately (so no receptive field crosses a
    strip border) and its strip outputs are stacked back along the height. After a leaky ReLU
    the two are added, or with `concat=True` concatenated along the height (`[N, C', T, 2H, W]`,
    GaitGL's last block). `halving=0` makes the local branch a plain second conv. The height
    must be divisible by `2 ** halving`.
    """

    def __init__(
        self, in_channels: int, out_channels: int, halving: int, concat: bool = False
    ) -> None:
        super().__init__()
        if halving < 0:
            raise ValueError(f"GLConv: `halving` must be >= 0, got {halving}")
        self.global_conv = nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False)
        self.local_conv = nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False)
        self.halving = halving
        self.concat = concat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        strips = 2**self.halving
        if x.dim() != 5 or x.shape[3] % strips:
            raise ValueError(
                f"GLConv expects x [N, C, T, H, W] with H divisible by 2 ** halving = {strips}, "
                f"got shape {tuple(x.shape)}; choose an input height or `halving` that fits"
            )
        global_feat = self.global_conv(x)
        local_feat = torch.cat(
            [self.local_conv(strip) for strip in x.split(x.shape[3] // strips, dim=3)], dim=3
        )
        if self.concat:
            return F.leaky_relu(torch.cat([global_feat, local_feat], dim=3))
        return F.leaky_relu(global_feat) + F.leaky_relu(local_feat)

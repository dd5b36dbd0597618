"""Blocks shared by backbones: a 2D residual block and a frame-wise wrapper for 2D modules."""

from __future__ import annotations

import torch
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

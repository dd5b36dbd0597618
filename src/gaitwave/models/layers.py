"""Blocks shared by backbones: a 2D residual block, a frame-wise wrapper for 2D modules, GaitGL's
global-local 3D convolution, GaitPart's focal and part-wise temporal convolutions, DeepGaitV2's
P3D and 3D residual blocks, and the padding mask that keeps variable-length batches exact."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_frames(backbone: str, frames: torch.Tensor) -> None:
    """Raise unless `frames` is `[N, T, H, W]` (a batch of sequences)."""
    if frames.dim() != 4:
        raise ValueError(
            f"{backbone} expects frames [N, T, H, W] (4 dims), got shape {tuple(frames.shape)}; "
            "add a batch axis for a single sequence (frames[None])"
        )


def xavier_init(model: nn.Module) -> None:
    """OpenGait's initialisation: xavier-uniform weights for every 2D and 3D convolution of
    `model`, BatchNorm weight 1 and bias 0 (their biases, if any, are left as they are)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Conv3d):
            nn.init.xavier_uniform_(module.weight)
        elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


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


def mask_padding(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero the frames `t >= lengths[n]` of `x [N, C, T, H, W]`; `None` returns `x` as it is.

    Applied to the input of every convolution that mixes frames, it makes each sequence of a
    zero-padded batch see zeros beyond its last frame, as it does when run on its own.
    """
    if lengths is None:
        return x
    valid = torch.arange(x.shape[2], device=x.device) < lengths.to(x.device)[:, None]  # [N, T]
    return x * valid[:, None, :, None, None].to(x.dtype)


def projection3d(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Residual shortcut of the 3D-layout blocks: a 1 x 1 x 1 conv with spatial stride + BN
    when the stride or the channel count changes, else the identity. `[N, C, T, H, W]`."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False),
        nn.BatchNorm3d(out_channels),
    )


class BasicBlockP3D(nn.Module):
    """Pseudo-3D residual block (DeepGaitV2): `[N, C, T, H, W] -> [N, C', T, H / s, W / s]`.

    `conv1`: frame-wise 3 x 3 conv (stride s) + BN + ReLU; then a temporal (3, 1, 1) conv + BN
    (`shortcut3d`, `sbn`: OpenGait's names) is added back and a ReLU follows; `conv2`:
    frame-wise 3 x 3 conv + BN; the residual `shortcut` (`projection3d`) is added and a ReLU
    closes the block. Sizes round up (`ceil(H / s)`).

    `forward(x, lengths)` zeroes the padding frames (`t >= lengths[n]`) before the temporal
    conv, so a padded batch equals each sequence on its own. `channels_last=True` runs the
    frame-wise convs in the channels-last memory format (convert their weights too).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, channels_last: bool = False
    ) -> None:
        super().__init__()
        self.conv1 = FrameWise(
            nn.Sequential(
                conv3x3(in_channels, out_channels, stride),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ),
            channels_last=channels_last,
        )
        self.shortcut3d = nn.Conv3d(
            out_channels, out_channels, (3, 1, 1), padding=(1, 0, 0), bias=False
        )
        self.sbn = nn.BatchNorm3d(out_channels)
        self.conv2 = FrameWise(
            nn.Sequential(conv3x3(out_channels, out_channels), nn.BatchNorm2d(out_channels)),
            channels_last=channels_last,
        )
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection3d(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`x [N, C, T, H, W]`, `lengths [N] | None` (valid frames) -> `[N, C', T, H', W']`."""
        out = mask_padding(self.conv1(x), lengths)
        out = self.relu(out + self.sbn(self.shortcut3d(out)))
        out = self.conv2(out)
        return self.relu(out + self.shortcut(x))


class BasicBlock3D(nn.Module):
    """3D residual block: `[N, C, T, H, W] -> [N, C', T, H / s, W / s]`.

    Two 3 x 3 x 3 convs (the first with stride (1, s, s)) each followed by BN, a ReLU between
    them, the residual `shortcut` (`projection3d`) added and a final ReLU. `forward(x, lengths)`
    zeroes the padding frames before each conv, so a padded batch equals each sequence alone.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(
            in_channels, out_channels, 3, stride=(1, stride, stride), padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection3d(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`x [N, C, T, H, W]`, `lengths [N] | None` (valid frames) -> `[N, C', T, H', W']`."""
        x = mask_padding(x, lengths)
        out = mask_padding(self.relu(self.bn1(self.conv1(x))), lengths)
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class FocalConv2d(nn.Module):
    """GaitPart focal convolution: one 2D conv applied to each horizontal strip on its own.

    `[B, C, H, W] -> [B, C', H, W]`: the height is cut into `2 ** halving` equal strips, each is
    convolved separately (zero padding at every strip border, so no receptive field crosses
    one) and the outputs are stacked back along the height. `halving=0` is a plain conv. Bias
    free, stride 1, padding `kernel_size // 2`. H must be divisible by `2 ** halving`.
    OpenGait name: `FocalConv2d.conv` (the same attribute here).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, halving: int) -> None:
        super().__init__()
        if halving < 0:
            raise ValueError(f"FocalConv2d: `halving` must be >= 0, got {halving}")
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
        )
        self.halving = halving

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        strips = 2**self.halving
        if x.dim() != 4 or x.shape[2] % strips:
            raise ValueError(
                f"FocalConv2d expects x [B, C, H, W] with H divisible by 2 ** halving = "
                f"{strips}, got shape {tuple(x.shape)}; choose an input height or `halving` "
                "that fits"
            )
        if strips == 1:
            return self.conv(x)
        b, c, h, w = x.shape
        # the strips are folded into the batch: [B * strips, C, H / strips, W], one conv call
        folded = x.reshape(b, c, strips, h // strips, w).transpose(1, 2)
        out = self.conv(folded.reshape(b * strips, c, h // strips, w))
        out = out.reshape(b, strips, -1, h // strips, w).transpose(1, 2)
        return out.reshape(b, -1, h, w)


class PartConv1d(nn.Module):
    """A separate bias-free 1D temporal conv per part: `[N, P, C, T] -> [N, P, C', T]`.

    Weight `[P, C', C, k]`: part p is convolved over time with `weight[p]` (zero padding
    `k // 2`, stride 1, so T is kept), computed as one grouped conv. Each `weight[p]` is
    xavier-uniform with a Conv1d's fans (`C k`, `C' k`). An odd `kernel_size` keeps frames
    aligned.
    """

    def __init__(self, in_channels: int, out_channels: int, parts: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"PartConv1d: `kernel_size` must be odd and >= 1, got {kernel_size}")
        self.in_channels, self.out_channels, self.parts = in_channels, out_channels, parts
        self.weight = nn.Parameter(torch.empty(parts, out_channels, in_channels, kernel_size))
        for part_weight in self.weight.data:
            nn.init.xavier_uniform_(part_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:3] != (self.parts, self.in_channels):
            raise ValueError(
                f"PartConv1d expects x [N, P, C, T] = [N, {self.parts}, {self.in_channels}, T], "
                f"got shape {tuple(x.shape)}"
            )
        n, p, c, t = x.shape
        weight = self.weight.reshape(p * self.out_channels, c, -1)
        out = F.conv1d(x.reshape(n, p * c, t), weight, padding=weight.shape[-1] // 2, groups=p)
        return out.view(n, p, self.out_channels, t)

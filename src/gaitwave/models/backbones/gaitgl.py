"""GaitGL: global-local 3D convolutions with local temporal aggregation (Lin et al., ICCV 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gaitwave.models.layers import GLConv, check_frames, mask_padding, xavier_init

#: LTA (local temporal aggregation) kernel and stride: every 3 frames become one
TEMPORAL_STRIDE = 3


class GaitGL(nn.Module):
    """GaitGL trunk: `frames [N, T, H, W] -> feature maps [N, C, T // 3, H, W / 2]`.

    `channels = (c0, c1, c2, c3)`: a stem of `stem_layers` 3 x 3 x 3 convs to c0, the LTA conv
    (kernel and stride (3, 1, 1), c0 -> c0), then three stages of `blocks` GLConvs each to c1,
    c2 and c3, with a (1, 2, 2) max-pool after the first stage. The last GLConv concatenates
    its global and local outputs along the height, which doubles the pooled height back to H.
    Every conv is bias-free and followed by a leaky ReLU. `C = c3`; H must be divisible by
    `2 * 2 ** halving`. OpenGait's variants:

    - CASIA-B: `channels=(32, 64, 128, 128), blocks=1, halving=3, stem_layers=1` (the paper's
      32/64/128; the last stage keeps 128 channels).
    - OU-MVLP: `channels=(32, 64, 128, 256), blocks=2, halving=1, stem_layers=2`.

    Temporal padding: the 3 x 3 x 3 convs see one frame on each side, so in a zero-padded batch
    the last valid frames would see the (non-zero) conv outputs of the padding frames where a
    sequence on its own sees zeros, and the LTA window that holds the last `T mod 3` valid
    frames would leak in as well. `forward(frames, lengths)` zeroes the padding frames after
    every layer (at the LTA's rate `out_lengths(lengths)` after it), which makes a batch equal
    to one sequence at a time; without `lengths` every frame counts as valid.

    Init: convolutions xavier-uniform (as OpenGait).
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128, 128),
        blocks: int = 1,
        halving: int = 3,
        stem_layers: int = 1,
    ) -> None:
        super().__init__()
        channels = list(channels)
        if len(channels) != 4 or min(channels) < 1:
            raise ValueError(
                "GaitGL: `channels` needs 4 positive entries (stem, then three GLConv stages), "
                f"got {channels}; use [32, 64, 128, 128] for CASIA-B, [32, 64, 128, 256] for "
                "OU-MVLP"
            )
        if blocks < 1 or stem_layers < 1 or halving < 0:
            raise ValueError(
                "GaitGL: `blocks` and `stem_layers` must be >= 1 and `halving` >= 0, got "
                f"blocks={blocks}, stem_layers={stem_layers}, halving={halving}"
            )
        stem_in = [1] + [channels[0]] * (stem_layers - 1)
        self.stem = nn.ModuleList(
            nn.Conv3d(c, channels[0], 3, padding=1, bias=False) for c in stem_in
        )
        self.lta = nn.Conv3d(
            channels[0],
            channels[0],
            (TEMPORAL_STRIDE, 1, 1),
            stride=(TEMPORAL_STRIDE, 1, 1),
            bias=False,
        )
        self.blocks = nn.ModuleList()
        in_channels = channels[0]
        for stage, out_channels in enumerate(channels[1:]):
            for index in range(blocks):
                last = stage == 2 and index == blocks - 1
                self.blocks.append(GLConv(in_channels, out_channels, halving, concat=last))
                in_channels = out_channels
        self.pool_after = blocks - 1  # index of the block the max-pool follows
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.out_channels = channels[-1]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform convolutions, as OpenGait (`xavier_init`)."""
        xavier_init(self)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`frames [N, T, H, W]` in [0, 1], `lengths [N] | None` -> `[N, C, T // 3, H, W / 2]`."""
        check_frames("GaitGL", frames)
        if frames.shape[1] < TEMPORAL_STRIDE:
            raise ValueError(
                f"GaitGL needs at least {TEMPORAL_STRIDE} frames (the LTA stride), got "
                f"T={frames.shape[1]}; sample longer clips"
            )
        out_lengths = None if lengths is None else self.out_lengths(lengths)
        x = mask_padding(frames.unsqueeze(1), lengths)
        for conv in self.stem:
            x = mask_padding(F.leaky_relu(conv(x)), lengths)
        x = mask_padding(F.leaky_relu(self.lta(x)), out_lengths)
        for index, block in enumerate(self.blocks):
            x = mask_padding(block(x), out_lengths)
            if index == self.pool_after:
                x = self.pool(x)
        return x

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames after the LTA: `lengths // 3` (the last `lengths mod 3` are dropped)."""
        if bool((lengths < TEMPORAL_STRIDE).any()):
            raise ValueError(
                f"GaitGL needs at least {TEMPORAL_STRIDE} valid frames per sequence (the LTA "
                f"stride), got lengths {lengths.tolist()}"
            )
        return torch.div(lengths, TEMPORAL_STRIDE, rounding_mode="floor")

"""GaitPart: frame-level focal convolutions (Fan et al., CVPR 2020); its temporal part head is
`gaitwave.models.heads.GaitPartHead`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gaitwave.models.layers import FocalConv2d, FrameWise, check_frames, xavier_init

#: OpenGait's CASIA-B layer list (configs/gaitpart/gaitpart.yaml)
CASIAB_LAYERS = ("BC-32", "BC-32", "M", "FC-64-2", "FC-64-2", "M", "FC-128-3", "FC-128-3")


def _parse_layer(spec: str, index: int) -> tuple[str, int, int]:
    """`"BC-32"`, `"FC-64-2"` or `"M"` -> (kind, out_channels, halving)."""
    fields = str(spec).split("-")
    try:
        if fields == ["M"]:
            return "M", 0, 0
        if fields[0] == "BC" and len(fields) == 2:
            return "BC", int(fields[1]), 0
        if fields[0] == "FC" and len(fields) == 3:
            return "FC", int(fields[1]), int(fields[2])
    except ValueError:
        pass
    raise ValueError(
        f"GaitPart: `layers[{index}]` = {spec!r} is not a layer; use 'BC-<channels>' (conv), "
        "'FC-<channels>-<halving>' (focal conv on 2 ** halving strips) or 'M' (2 x 2 max-pool)"
    )


class GaitPart(nn.Module):
    """GaitPart frame-level part feature extractor: `frames [N, T, H, W] -> [N, C, T, H', W']`.

    `layers` in OpenGait's notation, one entry per layer: `"BC-c"` a conv to c channels,
    `"FC-c-h"` a focal conv (`FocalConv2d`, the same conv on each of `2 ** h` horizontal strips)
    to c channels, `"M"` a 2 x 2 max-pool. Every conv is bias-free, stride 1, 5 x 5 for the
    first layer and 3 x 3 after, and is followed by a leaky ReLU. The default is OpenGait's
    CASIA-B model (32 / 64 / 128): 64 x 44 -> 16 x 11 with `C = 128`, 286,496 parameters; its
    OU-MVLP model is `BC-32, BC-32, M, BC-64, BC-64, M, FC-128-3, FC-128-3, FC-256-3, FC-256-3`.
    `H'`, `W'` are H, W floor-halved once per "M"; each focal conv needs its input height
    divisible by `2 ** h` (for the default, H divisible by 32).

    Frames are processed one by one (no BatchNorm), so `lengths` is not needed here and
    `out_lengths` is the identity; the head masks the padding frames.

    OpenGait names (its `Backbone.forward_block.feature` is this module's `feature.module`):
    `Backbone.forward_block.feature.{i}.conv.weight` -> `feature.module.{i}.conv.weight`, with
    the same indices i (the leaky ReLUs and pools take indices as in OpenGait's `Plain`; "BC"
    layers are `FocalConv2d` with halving 0, a plain conv under the same name).

    Init: convolutions xavier-uniform (as OpenGait).
    """

    def __init__(self, layers: Sequence[str] = CASIAB_LAYERS, in_channels: int = 1) -> None:
        super().__init__()
        specs = [_parse_layer(spec, index) for index, spec in enumerate(layers)]
        if not specs or specs[0][0] == "M":
            raise ValueError(
                f"GaitPart: `layers` must start with a conv ('BC-<c>' or 'FC-<c>-<h>'), got "
                f"{list(layers)}; OpenGait's CASIA-B model is {list(CASIAB_LAYERS)}"
            )
        modules: list[nn.Module] = []
        channels = in_channels
        for kind, out_channels, halving in specs:
            if kind == "M":
                modules.append(nn.MaxPool2d(2))
                continue
            kernel_size = 5 if not modules else 3
            modules += [
                FocalConv2d(channels, out_channels, kernel_size, halving),
                nn.LeakyReLU(),
            ]
            channels = out_channels
        self.feature = FrameWise(nn.Sequential(*modules))
        self.out_channels = channels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform convolutions, as OpenGait (`xavier_init`)."""
        xavier_init(self)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`frames [N, T, H, W]` in [0, 1] -> feature maps `[N, C, T, H', W']`.

        `lengths` is accepted for the common backbone interface and not needed (frame-wise).
        """
        check_frames("GaitPart", frames)
        return self.feature(frames.unsqueeze(1))

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames per sequence after the backbone: the identity (no temporal stride)."""
        return lengths

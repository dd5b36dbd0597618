"""Backbones: `frames [N, T, H, W] -> feature maps [N, C, T', H', W']`.

Each has `out_channels` (C) and `out_lengths(lengths [N]) -> lengths' [N]`.
"""

from gaitwave.models.backbones.gaitbase import GaitBase

__all__ = ["GaitBase"]

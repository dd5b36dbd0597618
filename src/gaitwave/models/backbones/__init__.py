"""Backbones: `frames [N, T, H, W] -> feature maps [N, C, T', H', W']`.

Each has `out_channels` (C) and `out_lengths(lengths [N]) -> lengths' [N]`.
"""

from gaitwave.models.backbones.deepgaitv2 import DeepGaitV2
from gaitwave.models.backbones.gaitbase import GaitBase
from gaitwave.models.backbones.gaitgl import GaitGL
from gaitwave.models.backbones.gaitpart import GaitPart
from gaitwave.models.backbones.gaitset import GaitSet

__all__ = ["DeepGaitV2", "GaitBase", "GaitGL", "GaitPart", "GaitSet"]

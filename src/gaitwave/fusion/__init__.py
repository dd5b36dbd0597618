"""Part fusion: a loss, its input and labels -> one scalar (pre, post or norm / Waveloss)."""

from gaitwave.fusion.base import Fusion
from gaitwave.fusion.exponent import ExponentSchedule, exponent_at
from gaitwave.fusion.norm import NormFusion
from gaitwave.fusion.post import PostFusion
from gaitwave.fusion.pre import PreFusion

__all__ = ["ExponentSchedule", "Fusion", "NormFusion", "PostFusion", "PreFusion", "exponent_at"]

"""Part fusion: a loss, its input and labels -> one scalar (pre, post or norm / Waveloss)."""

from gaitwave.fusion.exponent import exponent_at
from gaitwave.fusion.norm import NormFusion
from gaitwave.fusion.post import PostFusion
from gaitwave.fusion.pre import PreFusion

__all__ = ["NormFusion", "PostFusion", "PreFusion", "exponent_at"]

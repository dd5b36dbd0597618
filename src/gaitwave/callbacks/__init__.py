"""Lightning callbacks: the exponent schedule and the fusion diagnostics."""

from gaitwave.callbacks.diagnostics import FusionDiagnostics
from gaitwave.callbacks.exponent import ExponentCallback

__all__ = ["ExponentCallback", "FusionDiagnostics"]

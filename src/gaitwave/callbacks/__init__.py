"""Lightning callbacks: the exponent schedule, the fusion diagnostics and the non-finite guard."""

from gaitwave.callbacks.diagnostics import FusionDiagnostics
from gaitwave.callbacks.exponent import ExponentCallback
from gaitwave.callbacks.nonfinite import NonFiniteGuard, NonFiniteLossError

__all__ = ["ExponentCallback", "FusionDiagnostics", "NonFiniteGuard", "NonFiniteLossError"]

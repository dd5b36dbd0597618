"""Lightning callbacks."""

from gaitwave.callbacks.exponent import ExponentSchedule

__all__ = ["ExponentSchedule"]

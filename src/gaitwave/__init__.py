"""gaitwave: deep gait recognition with Waveloss (part-level loss fusion with a dynamic exponent)."""

__version__ = "0.1.0"

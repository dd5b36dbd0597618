"""gaitwave: deep gait recognition with Waveloss (part-level loss fusion, dynamic exponent)."""

__version__ = "0.1.0"

"""SynthGait: a procedural, seeded generator of walking-person silhouettes in the CASIA-B layout.

    from gaitwave.data.synthgait import generate
    partition = generate("data/synthgait/dev-seed0", preset="dev", seed=0, workers=2)

Synthetic data: numbers measured on it are not CASIA-B numbers.
"""

from gaitwave.data.synthgait.generate import PRESETS, generate
from gaitwave.data.synthgait.sequence import TYPES, VIEWS

__all__ = ["PRESETS", "TYPES", "VIEWS", "generate"]

"""Writing dataset files: pickled sequences and JSON, each atomically.

Shared by the writers of prepared datasets (`gaitwave-prepare`) and of generated ones
(SynthGait). Each file is written atomically (`gaitwave.atomic`), so an interrupted run never
leaves a truncated file that a resumed run would take as done.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from gaitwave.atomic import atomic_write, write_text

PICKLE_PROTOCOL = 4  # fixed, so the bytes do not depend on the Python version


def write_pickle(path: Path, frames: np.ndarray) -> None:
    """Pickle uint8 frames `[T, H, W]` (a plain pickle of the contiguous array) to `path`."""
    with atomic_write(path, "wb", fsync=False) as file:
        pickle.dump(np.ascontiguousarray(frames), file, protocol=PICKLE_PROTOCOL)


def write_json(path: Path, content: dict) -> None:
    """Write `content` as indented JSON to `path`."""
    write_text(path, json.dumps(content, indent=2) + "\n", fsync=False)
